"""Under an fps cap the decoder leaves out non-reference frames that the cap will not keep
(or, as an option, decodes keyframes only); the frames kept are the same as without skipping,
with their true index and pts, and every frame is accounted for."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import av
import numpy as np
import pytest

from streamcore import InputError, Pipeline, models
from tests.media import make_clip


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.write(models.tiny_classifier((32, 32, 3), 10), tmp_path_factory.mktemp("m") / "tiny.tflite")


@pytest.fixture(scope="module")
def bframes_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 fps, 60 frames, 3 non-reference B-frames between references, a keyframe every 15."""
    return make_clip(tmp_path_factory.mktemp("b") / "b.mp4", frames=60, fps=30,
                     x264={"preset": "veryfast", "x264-params": "bframes=3:b-pyramid=0:keyint=15:min-keyint=15:scenecut=0"})


def luma(frame: Any) -> Any:
    return np.frombuffer(frame.planes[0], np.uint8)


def full_decode(path: Path) -> List[Tuple[Optional[int], bool, Any]]:
    """(pts, keyframe, luma) of every frame in display order."""
    with av.open(str(path)) as c:
        return [(f.pts, f.key_frame, luma(f).copy()) for f in c.decode(video=0)]


async def run(model: Path, clip: Path, **kw: Any) -> Tuple[List[Any], Dict[str, Any]]:
    async with Pipeline(model=model, devices="cpu:1", keep_frames=True) as p:
        cam = p.add_source(clip, name="cam", **kw)
        records = [r async for r in cam.results()]
        return records, p.stats()["streams"]["cam"]


def check_true_indices(results: List[Any], truth: List[Tuple[Optional[int], bool, Any]]) -> None:
    for r in results:
        pts, _, want = truth[r.index]
        assert r.pts == pts, f"frame {r.index}: pts {r.pts}, expected {pts}"
        np.testing.assert_array_equal(luma(r.frame), want)


async def test_nonref_frames_the_cap_leaves_out_are_not_decoded(model: Path, bframes_clip: Path) -> None:
    truth = full_decode(bframes_clip)
    assert len(truth) == 60
    records, stats = await run(model, bframes_clip, fps=5)
    results = [r for r in records if r.ok]
    # 3 of every 4 frames are non-reference B-frames; those before the cap's next slot (as far
    # as the decoder's reordering lets the source know it) are not decoded.
    assert stats["decode_skipped"] >= 15
    assert stats["frames"] == 60 == stats["results"] + stats["sampled_out"]
    assert [r.index for r in results] == list(range(0, 60, 6))  # the frames kept without skipping
    check_true_indices(results, truth)
    assert records[-1].kind == "end" and records[-1].error is None


async def test_without_skipping_the_same_cap_decodes_every_frame(model: Path, bframes_clip: Path) -> None:
    truth = full_decode(bframes_clip)
    records, stats = await run(model, bframes_clip, fps=5, skip_frames="none")
    results = [r for r in records if r.ok]
    assert stats["decode_skipped"] == 0
    assert [r.index for r in results] == list(range(0, 60, 6))
    check_true_indices(results, truth)


async def test_no_cap_decodes_every_frame(model: Path, bframes_clip: Path) -> None:
    records, stats = await run(model, bframes_clip)
    assert [r.index for r in records if r.ok] == list(range(60)) and stats["decode_skipped"] == 0


async def test_nonref_option_skips_every_nonref_frame(model: Path, bframes_clip: Path) -> None:
    truth = full_decode(bframes_clip)
    records, stats = await run(model, bframes_clip, fps=5, skip_frames="nonref")
    results = [r for r in records if r.ok]
    assert stats["decode_skipped"] >= 15  # every non-reference frame; kept ones may move to a reference frame
    assert stats["frames"] == 60 == stats["results"] + stats["sampled_out"]
    check_true_indices(results, truth)


async def test_keyframes_only(model: Path, bframes_clip: Path) -> None:
    truth = full_decode(bframes_clip)
    keyframes = [i for i, (_, key, _) in enumerate(truth) if key]
    assert keyframes == [0, 15, 30, 45]
    records, stats = await run(model, bframes_clip, fps=2, skip_frames="keyframes")
    results = [r for r in records if r.ok]
    assert [r.index for r in results] == keyframes
    check_true_indices(results, truth)
    assert stats["decode_skipped"] == 56 and stats["frames"] == 60


async def test_bad_skip_frames_value(model: Path, bframes_clip: Path) -> None:
    async with Pipeline(model=model, devices="cpu:1") as p:
        with pytest.raises(InputError, match="keyframes"):
            p.add_source(bframes_clip, skip_frames="all")
