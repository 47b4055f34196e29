"""Live RTSP sources against a real RTSP server (GStreamer's gst-rtsp-server, tests/rtsp_server.py):
streaming over RTSP/TCP, and a stall seen after stall_timeout, not twice it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Iterator, List

import pytest

from streamcore import Pipeline, SourceTimeoutError, StreamResult, models

from tests.media import free_port, make_clip
from tests.pipeline_helpers import assert_in_order
from tests.test_live import reader, wait_for

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"


def _server_python() -> str:
    """The system Python with GStreamer's RTSP server bindings, or a skip saying what to install."""
    probe = "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0')"
    if shutil.which(SYSTEM_PYTHON) is None or subprocess.run(
        [SYSTEM_PYTHON, "-c", probe], capture_output=True
    ).returncode != 0:
        pytest.skip("no RTSP server here: apt-get install gir1.2-gst-rtsp-server-1.0 python3-gi "
                    "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad (.ci/run does)")
    return SYSTEM_PYTHON


@pytest.fixture
def rtsp(tmp_path: Path) -> "Iterator[tuple[str, subprocess.Popen[str]]]":
    python = _server_python()
    # 60 s of 10 fps H.264 without B-frames, a keyframe a second: a camera's stream.
    clip = make_clip(tmp_path / "cam.mp4", frames=600, fps=10, x264={"preset": "ultrafast", "g": "10", "bf": "0"})
    port = free_port()
    server = subprocess.Popen([python, str(HERE / "rtsp_server.py"), str(port), str(clip)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready", server.stderr
    yield f"rtsp://cam:secret@127.0.0.1:{port}/cam", server
    server.terminate()
    try:
        server.wait(5)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(5)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.write(models.tiny_classifier((32, 32, 3), 10), tmp_path_factory.mktemp("m") / "tiny.tflite")


async def test_rtsp_stream_plays_in_order(model: Path, rtsp: "tuple[str, subprocess.Popen[str]]") -> None:
    url, _ = rtsp
    records: List[StreamResult] = []
    async with Pipeline(model=model, devices="cpu:1") as p:
        cam = p.add_source(url, name="cam")
        task = asyncio.ensure_future(reader(cam, records))
        await wait_for(lambda: sum(r.ok for r in records) >= 15, 20, "frames over RTSP")
        assert cam.live and cam.state == "streaming"
        assert "secret" not in str(cam.stats())
    await asyncio.wait_for(task, 5)
    assert_in_order(records)


async def test_rtsp_stall_is_seen_after_stall_timeout_not_twice(
    model: Path, rtsp: "tuple[str, subprocess.Popen[str]]"
) -> None:
    # FFmpeg's RTSP demuxer answers the first interrupted read with the frame it still held
    # and only the second with an error: the stall used to surface after 2 x stall_timeout
    # (6.1 s for 3 s here, 3.1 s after the fix). No time is asserted (shared machines); this
    # checks the stall is reported and the stream recovers.
    url, server = rtsp
    stall_timeout = 3.0
    records: List[StreamResult] = []
    async with Pipeline(model=model, devices="cpu:1") as p:
        cam = p.add_source(url, name="cam", stall_timeout=stall_timeout, reconnect_delay=0.1)
        task = asyncio.ensure_future(reader(cam, records))
        await wait_for(lambda: sum(r.ok for r in records) >= 5, 20, "first frames")
        reconnects = cam.reconnects
        os.kill(server.pid, signal.SIGUSR1)  # the media stops; the RTSP session stays up
        await wait_for(lambda: any(isinstance(r.error, SourceTimeoutError) for r in records), 20, "a stall error")
        os.kill(server.pid, signal.SIGUSR2)
        await wait_for(lambda: cam.reconnects > reconnects, 10, "a reconnect")
        seen = len(records)
        await wait_for(lambda: sum(r.ok for r in records[seen:]) >= 5, 20, "frames after the reconnect")
    await asyncio.wait_for(task, 5)
    assert_in_order(records)
