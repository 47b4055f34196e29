"""An aiohttp service that embeds a streamcore Pipeline and serves its latest results and stats.

    pip install aiohttp
    STREAMCORE_SERVICE_TOKEN=... python examples/service.py --model MODEL [--labels L] [--devices cpu:2]
        [--port 8080] [--allow-scheme rtsp,rtsps] [--allow-host cam1.local] [--media-dir DIR]
        [--max-streams 16] SOURCE...

    GET    /stats                    pipeline stats (per stream, per device, loop lag)
    GET    /streams                  stream names, URLs (redacted) and states
    GET    /results/latest           the latest result of every stream
    GET    /results/{name}/latest    the latest result of one stream
    POST   /streams                  {"source": "rtsp://...", "name": "door", "fps": 5} adds a source
    DELETE /streams/{name}           removes a source

Security (this file is a template: keep these when you copy it):
- Changes (POST, DELETE) need ``Authorization: Bearer <token>``, the token coming from
  ``$STREAMCORE_SERVICE_TOKEN`` (preferred: a ``--token`` flag is visible to other local users
  in the process list) or ``--token``. Without a token the service is read-only.
- Sources added over HTTP must use an allowed scheme (``--allow-scheme``, default rtsp, rtsps,
  http, https, udp, tcp) and, with ``--allow-host``, an allowed host. FFmpeg is told to use
  only those protocols (and the transports under them), so a playlist cannot pull in a local
  file. Local files (paths, ``file://``) are refused unless ``--media-dir DIR`` is given, and
  then only regular files under DIR (symlinks resolved, no ``..`` escape); a refused path gets
  the same answer whether or not it exists. Other schemes (``unix://``, ``gopher://``,
  ``concat:``, ...) are refused. At most ``--max-streams`` streams run at once (429 beyond).
- Every error is a JSON ``{"error": message}`` with a 4xx status (500 only for a bug, without
  details); every JSON answer is strict (no NaN or Infinity).
- Sources given on the command line are the operator's and are not checked.
- It listens on 127.0.0.1 by default; put TLS in front of it before exposing it.

Inference runs in streamcore's native threads and decoding on PyAV threads, so the handlers
stay responsive while the streams run.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import math
import os
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, FrozenSet, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamcore  # noqa: E402
from streamcore import Classify, Detect, Pipeline, StreamResult, read_labels  # noqa: E402
from streamcore.jsonsafe import dumps  # noqa: E402
from streamcore.sources.urls import redact, scheme  # noqa: E402

log = logging.getLogger("streamcore.service")

TOKEN_ENV = "STREAMCORE_SERVICE_TOKEN"
DEFAULT_SCHEMES = ("rtsp", "rtsps", "http", "https", "udp", "tcp")
DEFAULT_MAX_STREAMS = 16
MAX_BODY_BYTES = 64 * 1024
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# What FFmpeg may open beneath each allowed scheme (never "file", "pipe", "concat", ...).
TRANSPORTS: Dict[str, Tuple[str, ...]] = {
    "rtsp": ("rtsp", "rtp", "srtp", "udp", "tcp", "http", "httpproxy"),
    "rtsps": ("rtsps", "rtsp", "rtp", "srtp", "udp", "tcp", "tls", "http", "https", "httpproxy"),
    "http": ("http", "tcp", "httpproxy", "crypto"),
    "https": ("https", "http", "tcp", "tls", "httpproxy", "crypto"),
    "udp": ("udp", "rtp"),
    "tcp": ("tcp",),
    "rtmp": ("rtmp", "tcp"),
    "rtmps": ("rtmps", "rtmp", "tcp", "tls"),
    "srt": ("srt", "udp"),
}
_NO_LOCAL_FILE = ("local files are not allowed here: pass a path relative to the media folder "
                  "of an existing video file in it")


@dataclass(frozen=True)
class Policy:
    """What the HTTP API may change, and with which sources."""

    token: Optional[str] = None  # None: read-only (POST and DELETE answer 403)
    schemes: FrozenSet[str] = frozenset(DEFAULT_SCHEMES)
    hosts: Optional[FrozenSet[str]] = None  # None: any host
    media_dir: Optional[Path] = None  # None: no local files
    max_streams: int = DEFAULT_MAX_STREAMS

    def __post_init__(self) -> None:
        object.__setattr__(self, "schemes", frozenset(s.lower() for s in self.schemes))
        if self.hosts is not None:
            object.__setattr__(self, "hosts", frozenset(h.lower().strip("[]") for h in self.hosts))
        if self.media_dir is not None:
            object.__setattr__(self, "media_dir", Path(self.media_dir).resolve(strict=True))
        if self.token is not None and not self.token:
            raise ValueError("an empty token would let anyone in; pass a real token or none")
        if self.max_streams < 1:
            raise ValueError(f"max_streams {self.max_streams}: it must be at least 1")


@dataclass(frozen=True)
class Checked:
    """A source that passed the policy: what to open and the FFmpeg options to open it with."""

    source: str
    options: Dict[str, str] = field(default_factory=dict)


def json_error(status: int, message: str, **headers: str) -> web.Response:
    return web.Response(status=status, text=dumps({"error": message}), content_type="application/json",
                        headers=headers or None)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


class Refused(Exception):
    """A request the service answers with `status` and a JSON message."""

    def __init__(self, status: int, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def check_source(source: Any, policy: Policy) -> Checked:
    """The source to open for an HTTP request's `source`, or Refused(400/403)."""
    if not isinstance(source, str) or not source.strip():
        raise Refused(400, '"source" must be a non-empty string (a URL, or a file in the media folder)')
    if any(ord(c) < 0x20 or c == "\x7f" for c in source) or len(source) > 4096:
        raise Refused(400, '"source" holds control characters or is too long')
    s = scheme(source)
    if s is None or s == "file":
        return Checked(_media_file(source[len("file://"):] if s == "file" else source, policy))
    if s not in policy.schemes:
        allowed = ", ".join(sorted(policy.schemes)) or "none"
        raise Refused(400, f"scheme {s!r} is not allowed; allowed: {allowed}")
    try:
        host = urlsplit(source).hostname
    except ValueError:
        raise Refused(400, f"{redact(source)} is not a valid URL") from None
    if not host:
        raise Refused(400, f"{redact(source)} names no host")
    if policy.hosts is not None and host.lower() not in policy.hosts:
        raise Refused(403, f"host {host!r} is not allowed")
    return Checked(source, {"protocol_whitelist": ",".join(sorted(set(TRANSPORTS.get(s, (s,)))))})


def _media_file(path: str, policy: Policy) -> str:
    """The resolved path of a regular file under the media folder; one answer for anything
    else (missing, outside, a directory, a device), so it does not tell what exists."""
    root = policy.media_dir
    if root is None:
        raise Refused(403, "local files are not allowed (start the service with --media-dir DIR to serve files under DIR)")
    try:
        resolved = Path(os.path.realpath(root / path))  # an absolute `path` replaces root
        inside = resolved == root or root in resolved.parents
        ok = inside and resolved.is_file()
    except (OSError, ValueError):
        ok = False
    if not ok:
        raise Refused(400, _NO_LOCAL_FILE)
    return str(resolved)


def _optional_name(body: Dict[str, Any]) -> Optional[str]:
    name = body.get("name")
    if name is None:
        return None
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise Refused(400, '"name" must be 1-64 letters, digits, "_", "." or "-", starting with a letter or digit')
    return name


def _optional_fps(body: Dict[str, Any]) -> Optional[float]:
    fps = body.get("fps")
    if fps is None:
        return None
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or not 0 < fps <= 1000:
        raise Refused(400, '"fps" must be a number above 0 (and at most 1000)')
    return float(fps)


PIPELINE = web.AppKey("pipeline", Pipeline)
LATEST = web.AppKey("latest", dict)
POLICY = web.AppKey("policy", Policy)


async def consume(p: Pipeline, latest: Dict[str, Dict[str, Any]]) -> None:
    """Reads every record (a Pipeline waits for a reader) and keeps each stream's latest."""
    async for record in p.results(until_idle=False):
        if record.kind == "result":
            latest[record.stream] = record.to_dict()
        elif record.kind == "end":
            latest.setdefault(record.stream, {}).update(ended=True)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as JSON: ours (Refused), aiohttp's (404, 405, 413, ...) and bugs (500)."""
    try:
        return await handler(request)
    except Refused as e:
        return json_error(e.status, e.message, **e.headers)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return json_error(e.status, e.reason if e.text is None or e.text.startswith(f"{e.status}:") else e.text)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, redact(request.path))
        return json_error(500, "internal error")


def make_app(p: Pipeline, policy: Optional[Policy] = None) -> web.Application:
    policy = policy or Policy()
    app = web.Application(middlewares=[json_errors], client_max_size=MAX_BODY_BYTES)
    app[PIPELINE] = p
    app[POLICY] = policy
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
        return json_response(p.stats())

    async def all_latest(request: web.Request) -> web.Response:
        return json_response(latest)

    app.router.add_get("/stats", stats)
    app.router.add_get("/streams", streams)
    app.router.add_get("/results/latest", all_latest)
    app.router.add_get("/results/{name}/latest", one_latest)
    app.router.add_post("/streams", add_stream)
    app.router.add_delete("/streams/{name}", remove_stream)
    return app


def authorize(request: web.Request) -> None:
    """Changes need the service's bearer token (compared in constant time)."""
    token = request.app[POLICY].token
    if token is None:
        raise Refused(403, f"changes are disabled: start the service with ${TOKEN_ENV} (or --token) set")
    scheme_, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme_.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Refused(401, "a valid 'Authorization: Bearer <token>' header is required",
                      **{"WWW-Authenticate": 'Bearer realm="streamcore"'})


async def streams(request: web.Request) -> web.Response:
    p = request.app[PIPELINE]
    return json_response({name: {"url": s.url, "state": s.state, "live": s.live}
                          for name, s in p.streams.items()})


async def one_latest(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    record = request.app[LATEST].get(name)
    if record is None:
        raise Refused(404, f"no result yet for stream {name!r}")
    return json_response(record)


async def add_stream(request: web.Request) -> web.Response:
    authorize(request)
    policy = request.app[POLICY]
    try:
        body = await request.json()
    except ValueError:  # JSONDecodeError, or a body that is not UTF-8
        raise Refused(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise Refused(400, 'the body must be a JSON object like {"source": "rtsp://..."}')
    unknown = sorted(set(body) - {"source", "name", "fps"})
    if unknown:
        raise Refused(400, f"unknown fields {unknown}; use source, name and fps")
    checked = check_source(body.get("source"), policy)
    name, fps = _optional_name(body), _optional_fps(body)
    p = request.app[PIPELINE]
    running = sum(1 for s in p.streams.values() if not s.ended)
    if running >= policy.max_streams:
        raise Refused(429, f"{running} streams are running, the most this service allows "
                           f"(--max-streams {policy.max_streams}); remove one first")
    if name is not None and name in p.streams:
        raise Refused(409, f"a stream named {name!r} exists; pick another name or remove it first")
    try:
        stream = p.add_source(checked.source, name=name, fps=fps, options=checked.options or None)
    except streamcore.StreamcoreError as e:
        raise Refused(400, redact(str(e))) from None
    return json_response({"name": stream.name, "url": stream.url}, status=201)


async def remove_stream(request: web.Request) -> web.Response:
    authorize(request)
    try:
        await request.app[PIPELINE].remove_source(request.match_info["name"])
    except streamcore.InputError as e:
        raise Refused(404, redact(str(e))) from None
    return web.Response(status=204)


async def main(args: argparse.Namespace) -> None:
    policy = policy_from_args(args)
    labels = read_labels(args.labels) if args.labels else None
    adapter = Detect(labels=labels) if args.detect else Classify(top_k=3, labels=labels)
    async with Pipeline(model=args.model, devices=args.devices, adapter=adapter) as p:
        for source in args.sources:
            p.add_source(source, realtime=args.realtime)
        runner = web.AppRunner(make_app(p, policy), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        print(f"listening on http://{host}:{port}", flush=True)
        if policy.token is None:
            print(f"read-only: set ${TOKEN_ENV} (or --token) to allow adding and removing sources",
                  file=sys.stderr, flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()


def _csv(values: Sequence[str]) -> Tuple[str, ...]:
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def policy_from_args(args: argparse.Namespace) -> Policy:
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    schemes = _csv(args.allow_scheme) if args.allow_scheme else DEFAULT_SCHEMES
    bad = [s for s in schemes if s.lower() == "file"]
    if bad:
        raise SystemExit("--allow-scheme file: use --media-dir DIR to serve local files")
    hosts = frozenset(_csv(args.allow_host)) if args.allow_host else None
    try:
        return Policy(token=token, schemes=frozenset(schemes), hosts=hosts,
                      media_dir=Path(args.media_dir) if args.media_dir else None, max_streams=args.max_streams)
    except (OSError, ValueError) as e:
        raise SystemExit(f"service: {e}") from None


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--model", "-m", required=True)
    ap.add_argument("--labels", "-l")
    ap.add_argument("--devices", "-d", default="auto")
    ap.add_argument("--detect", action="store_true", help="SSD detection model (default: classification)")
    ap.add_argument("--realtime", action="store_true", help="play files at their own frame rate")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    ap.add_argument("--token", help=f"bearer token for POST/DELETE (default ${TOKEN_ENV}; "
                                    "prefer the variable: flags show in the process list)")
    ap.add_argument("--allow-scheme", action="append", default=[], metavar="SCHEME[,SCHEME]",
                    help=f"URL schemes sources may use (default {','.join(DEFAULT_SCHEMES)})")
    ap.add_argument("--allow-host", action="append", default=[], metavar="HOST[,HOST]",
                    help="hosts sources may name (default: any)")
    ap.add_argument("--media-dir", help="allow local video files, only under this folder (default: none)")
    ap.add_argument("--max-streams", type=int, default=DEFAULT_MAX_STREAMS,
                    help=f"streams running at once (default {DEFAULT_MAX_STREAMS})")
    ap.add_argument("sources", nargs="*")
    return ap.parse_args(argv)


if __name__ == "__main__":
    streamcore.run(main(parse_args()))
