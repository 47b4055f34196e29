"""Camera formats through a Pipeline: an MJPEG webcam-like 4:2:2 clip and an HEVC Main10 clip
reach the fused kernel without a swscale reformat (the stream stats count it); a format with no
native path falls back to the reformat, logged once per stream."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, List

import av
import pytest

from streamcore import Classify, Pipeline, models
from tests.media import encoder_or_skip, make_coded_clip, pattern


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.write(models.tiny_classifier((32, 32, 3), 10), tmp_path_factory.mktemp("m") / "tiny.tflite")


def decoded_format(path: Path) -> str:
    with av.open(str(path)) as c:
        return str(next(c.decode(video=0)).format.name)


async def run_clip(model: Path, clip: Path) -> Any:
    async with Pipeline(model=model, devices="cpu:1", adapter=Classify(top_k=1)) as p:
        cam = p.add_source(clip, name="cam")
        records = [r async for r in cam.results()]
        return records, p.stats()["streams"]["cam"]


async def test_mjpeg_422_clip_runs_without_a_reformat(model: Path, tmp_path: Path) -> None:
    encoder_or_skip("mjpeg")
    clip = make_coded_clip(tmp_path / "webcam.avi", "mjpeg", "yuvj422p", frames=12, size=(176, 144))
    assert decoded_format(clip) == "yuvj422p"
    records, stats = await run_clip(model, clip)
    assert len([r for r in records if r.ok]) == 12
    assert (stats["fused_frames"], stats["reformatted_frames"], stats["pixel_format"]) == (12, 0, "yuvj422p")


async def test_hevc_main10_clip_runs_without_a_reformat(model: Path, tmp_path: Path) -> None:
    encoder_or_skip("libx265")
    clip = make_coded_clip(tmp_path / "main10.mkv", "libx265", "yuv420p10le", frames=10,
                           options={"preset": "ultrafast", "x265-params": "log-level=error"})
    assert decoded_format(clip) == "yuv420p10le"
    records, stats = await run_clip(model, clip)
    assert len([r for r in records if r.ok]) == 10
    assert (stats["fused_frames"], stats["reformatted_frames"], stats["pixel_format"]) == (10, 0, "yuv420p10le")


async def test_other_formats_are_reformatted_and_logged_once(model: Path, caplog: pytest.LogCaptureFixture) -> None:
    frames: List[Any] = [av.VideoFrame.from_ndarray(pattern(i, 64, 48), format="rgb24").reformat(format="yuv410p")
                         for i in range(5)]
    frames.append(pattern(5, 64, 48))  # numpy images always take the fused path
    caplog.set_level(logging.INFO, logger="streamcore.pipeline")
    async with Pipeline(model=model, devices="cpu:1") as p:
        cam = p.add_source(iter(frames), name="odd")
        records = [r async for r in cam.results()]
        stats = p.stats()["streams"]["odd"]
    assert len([r for r in records if r.ok]) == 6
    assert (stats["fused_frames"], stats["reformatted_frames"]) == (1, 5)
    notes = [r for r in caplog.records if "no native preprocess path" in r.getMessage()]
    assert len(notes) == 1 and "yuv410p" in notes[0].getMessage()
