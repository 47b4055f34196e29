"""Live sources against a real MPEG-TS server on loopback (PyAV in a subprocess): streaming,
reconnect after the server dies and comes back, and stall detection."""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import threading
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

from streamcore import Pipeline, SourceTimeoutError, Stream, StreamResult, models

from tests.media import free_port, make_clip, start_ts_server
from tests.pipeline_helpers import assert_in_order

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.write(models.tiny_classifier((32, 32, 3), 10), tmp_path_factory.mktemp("m") / "tiny.tflite")


@pytest.fixture
def servers() -> "Iterator[List[subprocess.Popen[bytes]]]":
    started: "List[subprocess.Popen[bytes]]" = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(5)


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def reader(stream: Stream, into: List[StreamResult]) -> None:
    async for r in stream.results():
        into.append(r)


async def test_live_stream_reconnects_after_the_server_restarts(model: Path, servers: "List[subprocess.Popen[bytes]]") -> None:
    port = free_port()
    servers.append(start_ts_server(port, fps=20))
    records: List[StreamResult] = []
    async with Pipeline(model=model, devices="cpu:2") as p:
        cam = p.add_source(f"tcp://127.0.0.1:{port}", name="cam", reconnect_delay=0.1, stall_timeout=3)
        task = asyncio.ensure_future(reader(cam, records))
        await wait_for(lambda: sum(r.ok for r in records) >= 10, 15, "first frames")
        assert cam.state == "streaming" and cam.live
        servers[0].kill()  # the camera goes away mid-stream
        servers[0].wait(5)
        await wait_for(lambda: cam.state in ("reconnecting", "connecting", "stalled"), 10, "reconnecting state")
        before = sum(r.ok for r in records)
        servers.append(start_ts_server(port, fps=20))
        await wait_for(lambda: sum(r.ok for r in records) >= before + 10, 20, "frames after restart")
        assert cam.state == "streaming" and cam.reconnects >= 1
        stats = p.stats()["streams"]["cam"]
        assert stats["reconnects"] == cam.reconnects and stats["camera_fps"] > 0
        await p.remove_source(cam)
        await asyncio.wait_for(task, 5)
    assert records[-1].kind == "end"
    assert_in_order(records)  # indices go on across the reconnect
    assert len({r.index for r in records if r.ok}) == sum(r.ok for r in records)


async def test_live_stall_is_detected_and_the_source_reopened(model: Path, servers: "List[subprocess.Popen[bytes]]") -> None:
    port = free_port()
    servers.append(start_ts_server(port, fps=20))
    records: List[StreamResult] = []
    async with Pipeline(model=model, devices="cpu:1") as p:
        cam = p.add_source(f"tcp://127.0.0.1:{port}", name="cam", stall_timeout=0.7, reconnect_delay=0.1)
        task = asyncio.ensure_future(reader(cam, records))
        await wait_for(lambda: sum(r.ok for r in records) >= 5, 15, "first frames")
        reconnects = cam.reconnects
        os.kill(servers[0].pid, signal.SIGSTOP)  # the server hangs: the socket stays open, silent
        await wait_for(lambda: isinstance(records[-1].error, SourceTimeoutError), 10, "a stall error record")
        await wait_for(lambda: cam.reconnects > reconnects, 5, "a reconnect")
        assert cam.state in ("reconnecting", "connecting")
        assert "no data" in (cam.stats()["last_error"] or "")
    await asyncio.wait_for(task, 5)
    assert records[-1].kind == "end"


async def test_live_source_drops_frames_when_inference_lags(model: Path, servers: "List[subprocess.Popen[bytes]]") -> None:
    port = free_port()
    servers.append(start_ts_server(port, fps=50))
    async with Pipeline(model=model, devices="cpu:1", live_queue=1, buffer=1) as p:
        cam = p.add_source(f"tcp://127.0.0.1:{port}", name="cam")
        records: List[StreamResult] = []
        async for r in cam.results():  # a slow consumer: 10 results per second
            records.append(r)
            await asyncio.sleep(0.1)
            if len(records) >= 10:
                break
        stats = cam.stats()
    assert stats["dropped"] > 10 and stats["skipped_fps"] > 0
    assert_in_order(records)


async def test_udp_live_source(model: Path, servers: "List[subprocess.Popen[bytes]]") -> None:
    port = free_port()
    records: List[StreamResult] = []
    async with Pipeline(model=model, devices="cpu:2") as p:
        cam = p.add_source(f"udp://127.0.0.1:{port}", name="cam")
        task = asyncio.ensure_future(reader(cam, records))
        await asyncio.sleep(0.3)  # the reader binds the port; then the sender starts
        servers.append(start_ts_server(port, fps=20, protocol="udp"))
        await wait_for(lambda: sum(r.ok for r in records) >= 10, 20, "frames over udp")
        assert cam.live and cam.state == "streaming"
    await asyncio.wait_for(task, 5)
    assert_in_order(records)


async def test_http_source(model: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.ts", frames=30, container_format="mpegts")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://user:pw@127.0.0.1:{server.server_address[1]}/{clip.name}"
        async with Pipeline(model=model, devices="cpu:2") as p:
            # a file over HTTP: lossless (live=False) rather than a camera
            records = [r async for r in p.add_source(url, name="web", live=False).results()]
    finally:
        server.shutdown()
        server.server_close()
    assert [r.index for r in records if r.ok] == list(range(30))
    assert records[-1].kind == "end" and records[-1].error is None


def _refusing_server(port: int, stop: threading.Event) -> threading.Thread:
    """Accepts each connection and closes it at once: a camera refusing mid-handshake."""
    import socket

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(8)
    server.settimeout(0.1)

    def serve() -> None:
        with server:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except OSError:
                    continue
                conn.close()

    thread = threading.Thread(target=serve, name="refusing-server", daemon=True)
    thread.start()
    return thread


async def test_a_reconnect_refused_mid_handshake_says_so(model: Path, servers: "List[subprocess.Popen[bytes]]") -> None:
    port = free_port()
    servers.append(start_ts_server(port, fps=20))
    records: List[StreamResult] = []
    stop = threading.Event()
    try:
        async with Pipeline(model=model, devices="cpu:1") as p:
            cam = p.add_source(f"tcp://127.0.0.1:{port}", name="cam", reconnect_delay=0.1, stall_timeout=3)
            task = asyncio.ensure_future(reader(cam, records))
            await wait_for(lambda: sum(r.ok for r in records) >= 5, 15, "first frames")
            servers[0].kill()
            servers[0].wait(5)
            _refusing_server(port, stop)
            await wait_for(lambda: any(r.kind == "error" and "handshake" in str(r.error) for r in records), 15,
                           "a reconnect error")
            await p.remove_source(cam)
            await asyncio.wait_for(task, 5)
    finally:
        stop.set()
    errors = [str(r.error) for r in records if r.kind == "error"]
    assert not any("not a video FFmpeg can read" in e for e in errors), errors
    assert any("reconnecting to tcp://127.0.0.1" in e and "handshake" in e for e in errors), errors
