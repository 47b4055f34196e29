"""Bad input to the pipeline's sources: each gets a clear error, and the pipeline goes on."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from pathlib import Path
from typing import List

import av
import pytest

from streamcore import (
    DecodeError,
    Pipeline,
    SourceError,
    SourceNotFoundError,
    SourceTimeoutError,
    StreamResult,
    UnsupportedSourceError,
    models,
    redact,
)

from tests.media import count_frames, free_port, make_clip
from tests.pipeline_helpers import assert_in_order, end_of


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.write(models.tiny_classifier((32, 32, 3), 10), tmp_path_factory.mktemp("m") / "tiny.tflite")


async def play(model: Path, source: object, **kw: object) -> List[StreamResult]:
    async with Pipeline(model=model, devices="cpu:2") as p:
        return [r async for r in p.add_source(source, name="s", **kw).results()]  # type: ignore[arg-type]


@pytest.mark.parametrize("content", [b"", b"this is a text file, not a video\n" * 100])
async def test_empty_or_non_video_file(model: Path, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    records = await play(model, path)
    assert [r.kind for r in records] == ["end"]
    assert isinstance(records[0].error, UnsupportedSourceError)
    assert "not a video FFmpeg can read" in str(records[0].error)


async def test_missing_file(model: Path, tmp_path: Path) -> None:
    async with Pipeline(model=model, devices="cpu:1") as p:
        with pytest.raises(SourceNotFoundError, match="no such file"):
            p.add_source(tmp_path / "nope.mp4")
        records = [r async for r in p.add_source("/dev/video97", max_reconnects=0).results()]  # camera: opened on its thread
    assert isinstance(end_of(records).error, SourceNotFoundError) and "camera" in str(records[-1].error)


async def test_truncated_mp4_gives_its_good_frames_then_an_error_end(model: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=60, size=(160, 120), options={"movflags": "faststart"})
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    records = await play(model, cut)
    results = [r for r in records if r.ok]
    assert 10 < len(results) < 60
    assert [r.index for r in results] == list(range(len(results)))
    end = end_of(records)
    assert isinstance(end.error, DecodeError) and "truncated" in str(end.error)


async def test_truncated_mp4_without_index_is_a_clear_error(model: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=30)  # moov at the end: half a file has no index
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    records = await play(model, cut)
    assert [r.kind for r in records] == ["end"] and isinstance(records[0].error, SourceError)


async def test_corrupted_stream_skips_bad_packets_and_goes_on(model: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.ts", frames=60, size=(160, 120), container_format="mpegts")
    total = count_frames(clip)
    data = bytearray(clip.read_bytes())
    for offset in range(len(data) // 5, len(data) * 4 // 5, 997):  # flip bytes across the middle
        data[offset] ^= 0xFF
    bad = tmp_path / "bad.ts"
    bad.write_bytes(bytes(data))
    async with Pipeline(model=model, devices="cpu:2") as p:
        stream = p.add_source(bad, name="s")
        records = [r async for r in stream.results()]
        stats = stream.stats()
    assert_in_order(records)
    results = [r for r in records if r.ok]
    assert results and end_of(records).kind == "end"
    assert results[0].index == 0
    # every decoded frame is a result (nothing is dropped from a file); lost ones are counted
    assert stats["frames"] == stats["results"] == len(results)
    # Every frame is counted once; skipped packets apart (they are no frame).
    assert stats["frames"] == stats["results"] + stats["dropped"] + stats["sampled_out"] + stats["errors"]
    skipped = sum(r.kind == "error" for r in records)
    assert stats["packet_errors"] == skipped and stats["errors"] == 0
    assert len(results) + skipped >= total // 2
    assert all(isinstance(r.error, DecodeError) for r in records if r.kind == "error")


async def test_unsupported_codec(model: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=5)
    patched = tmp_path / "unknown_codec.mp4"
    patched.write_bytes(clip.read_bytes().replace(b"avc1", b"zzzz"))
    records = await play(model, patched)
    assert [r.kind for r in records] == ["end"]
    assert isinstance(records[0].error, UnsupportedSourceError) and "cannot decode" in str(records[0].error)


async def test_audio_only_file(model: Path, tmp_path: Path) -> None:
    path = tmp_path / "audio.wav"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame(format="s16", layout="mono", samples=800)
        frame.sample_rate = 8000
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    records = await play(model, path)
    assert isinstance(records[0].error, UnsupportedSourceError) and "no video track" in str(records[0].error)


async def test_resolution_change_mid_stream(model: Path, tmp_path: Path) -> None:
    small = make_clip(tmp_path / "a.ts", frames=12, size=(160, 120), container_format="mpegts")
    large = make_clip(tmp_path / "b.ts", frames=12, size=(320, 176), container_format="mpegts", start_index=50)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(small.read_bytes() + large.read_bytes())
    records = await play(model, joined, live=False)
    results = [r for r in records if r.ok]
    sizes = [(r.result.geometry.frame_w, r.result.geometry.frame_h) for r in results if r.result]
    assert sizes[0] == (160, 120) and sizes[-1] == (320, 176)
    assert len(results) >= 20 and end_of(records).error is None


async def test_rtsp_refused_is_a_clear_error_and_retries_with_backoff(model: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="streamcore")
    port = free_port()  # nothing listens there
    url = f"rtsp://admin:hunter2@127.0.0.1:{port}/stream?token=s3cr3t"
    async with Pipeline(model=model, devices="cpu:1") as p:
        start = time.monotonic()
        stream = p.add_source(url, max_reconnects=2, reconnect_delay=0.05)
        records = [r async for r in stream.results()]
        elapsed = time.monotonic() - start
        stats = p.stats()
    assert [r.kind for r in records] == ["error", "error", "end"]
    assert all("refused" in str(r.error).lower() for r in records)
    assert stream.reconnects == 2 and elapsed >= 0.05 + 0.1  # backoff doubled
    text = repr(records) + str(stats) + caplog.text + stream.name + stream.url
    assert "hunter2" not in text and "s3cr3t" not in text and "admin" not in text
    assert "rtsp://***@127.0.0.1" in str(records[-1].error)


async def test_rtsp_that_never_answers_times_out(model: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)  # accepts connections (kernel backlog) but never says a word
    port = server.getsockname()[1]
    try:
        async with Pipeline(model=model, devices="cpu:1") as p:
            stream = p.add_source(f"rtsp://127.0.0.1:{port}/x", open_timeout=0.5, reconnect=False)
            records = [r async for r in stream.results()]
    finally:
        server.close()
    assert [r.kind for r in records] == ["end"]
    assert isinstance(records[0].error, SourceTimeoutError) and "did not answer" in str(records[0].error)


def test_redact() -> None:
    assert redact("rtsp://user:pa:ss@cam.local:554/x") == "rtsp://***@cam.local:554/x"
    assert redact("error opening 'http://u@h/p?a=1&password=x&token=y'") == "error opening 'http://***@h/p?a=1&password=***&token=***'"
    assert redact("/videos/a@b.mp4") == "/videos/a@b.mp4"


async def test_closing_a_pipeline_ends_a_decoder_blocked_opening_a_fifo(model: Path, tmp_path: Path) -> None:
    """A FIFO with no writer blocks open(2) in the kernel; closing must still end the thread."""
    import os
    import threading

    fifo = tmp_path / "camera.fifo"
    os.mkfifo(fifo)
    async with Pipeline(model=model, devices="cpu:1") as p:
        p.add_source(fifo, name="fifo")
        await asyncio.sleep(0.3)  # the decoder thread is now blocked opening the FIFO
        assert any(t.name == "sc-decode-fifo" for t in threading.enumerate())
    for _ in range(50):
        if not any(t.name == "sc-decode-fifo" for t in threading.enumerate()):
            break
        await asyncio.sleep(0.02)
    assert not any(t.name == "sc-decode-fifo" and t.is_alive() for t in threading.enumerate())
