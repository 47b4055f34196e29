"""An aiohttp service that embeds a streamcore Pipeline and serves its latest results and stats.

    pip install aiohttp
    python examples/service.py --model MODEL [--labels L] [--devices cpu:2] [--port 8080] SOURCE...

    GET    /stats                    pipeline stats (per stream, per device, loop lag)
    GET    /streams                  stream names, URLs (redacted) and states
    GET    /results/latest           the latest result of every stream
    GET    /results/{name}/latest    the latest result of one stream
    POST   /streams                  {"source": "rtsp://...", "name": "door", "fps": 5} adds a source
    DELETE /streams/{name}           removes a source

Inference runs in streamcore's native threads and decoding on PyAV threads, so the handlers
stay responsive while the streams run.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any, Dict, Optional

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamcore  # noqa: E402
from streamcore import Classify, Detect, Pipeline, StreamResult, read_labels  # noqa: E402

PIPELINE = web.AppKey("pipeline", Pipeline)
LATEST = web.AppKey("latest", dict)


async def consume(p: Pipeline, latest: Dict[str, Dict[str, Any]]) -> None:
    """Reads every record (a Pipeline waits for a reader) and keeps each stream's latest."""
    async for record in p.results(until_idle=False):
        if record.kind == "result":
            latest[record.stream] = record.to_dict()
        elif record.kind == "end":
            latest.setdefault(record.stream, {}).update(ended=True)


def make_app(p: Pipeline) -> web.Application:
    app = web.Application()
    app[PIPELINE] = p
    latest: Dict[str, Dict[str, Any]] = {}
    app[LATEST] = latest
    reader: Optional["asyncio.Task[None]"] = None

    async def start_reader(app: web.Application) -> Any:
        nonlocal reader
        reader = asyncio.get_running_loop().create_task(consume(p, latest))
        yield
        reader.cancel()

    app.cleanup_ctx.append(start_reader)
    async def stats(request: web.Request) -> web.Response:
        return web.json_response(p.stats())

    async def all_latest(request: web.Request) -> web.Response:
        return web.json_response(latest)

    app.router.add_get("/stats", stats)
    app.router.add_get("/streams", streams)
    app.router.add_get("/results/latest", all_latest)
    app.router.add_get("/results/{name}/latest", one_latest)
    app.router.add_post("/streams", add_stream)
    app.router.add_delete("/streams/{name}", remove_stream)
    return app


async def streams(request: web.Request) -> web.Response:
    p = request.app[PIPELINE]
    return web.json_response({name: {"url": s.url, "state": s.state, "live": s.live}
                              for name, s in p.streams.items()})


async def one_latest(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    record = request.app[LATEST].get(name)
    if record is None:
        raise web.HTTPNotFound(text=f"no result yet for stream {name!r}")
    return web.json_response(record)


async def add_stream(request: web.Request) -> web.Response:
    body = await request.json()
    try:
        stream = request.app[PIPELINE].add_source(body["source"], name=body.get("name"), fps=body.get("fps"))
    except (KeyError, streamcore.StreamcoreError) as e:
        raise web.HTTPBadRequest(text=str(e)) from None
    return web.json_response({"name": stream.name, "url": stream.url}, status=201)


async def remove_stream(request: web.Request) -> web.Response:
    try:
        await request.app[PIPELINE].remove_source(request.match_info["name"])
    except streamcore.InputError as e:
        raise web.HTTPNotFound(text=str(e)) from None
    return web.Response(status=204)


async def main(args: argparse.Namespace) -> None:
    labels = read_labels(args.labels) if args.labels else None
    adapter = Detect(labels=labels) if args.detect else Classify(top_k=3, labels=labels)
    async with Pipeline(model=args.model, devices=args.devices, adapter=adapter) as p:
        for source in args.sources:
            p.add_source(source, realtime=args.realtime)
        runner = web.AppRunner(make_app(p), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        print(f"listening on http://{host}:{port}", flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", "-m", required=True)
    ap.add_argument("--labels", "-l")
    ap.add_argument("--devices", "-d", default="auto")
    ap.add_argument("--detect", action="store_true", help="SSD detection model (default: classification)")
    ap.add_argument("--realtime", action="store_true", help="play files at their own frame rate")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    ap.add_argument("sources", nargs="*")
    return ap.parse_args()


if __name__ == "__main__":
    streamcore.run(main(parse_args()))
