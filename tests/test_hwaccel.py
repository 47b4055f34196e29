"""hwaccel= plumbing. No hardware decoder exists here: these tests check the names, that a
stream without a hardware path decodes in software and says so once (log and stats), and that
the separate-decoder path used by v4l2m2m decodes every frame (with a software decoder)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any, Tuple

import pytest

from streamcore import InputError, Pipeline, models
from streamcore.sources import hwaccel as hw
from streamcore.sources import hwaccel_names, open_source
from tests.media import make_clip


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.write(models.tiny_classifier((32, 32, 3), 10), tmp_path_factory.mktemp("m") / "tiny.tflite")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("c") / "c.mp4", frames=8)


def test_names_come_from_pyav() -> None:
    names = hwaccel_names()
    assert names[:2] == ["auto", "v4l2m2m"]
    assert {"vaapi", "cuda", "qsv", "videotoolbox"} <= set(names)
    assert "none" not in names


async def test_unknown_name_is_an_input_error_listing_pyav_names(model: Path, clip: Path) -> None:
    async with Pipeline(model=model, devices="cpu:1") as p:
        with pytest.raises(InputError) as info:
            p.add_source(clip, hwaccel="nvdec")
        message = str(info.value)
        assert "nvdec" in message and "vaapi" in message and "auto" in message and "v4l2m2m" in message
        with pytest.raises(InputError, match="iterable"):
            p.add_source(iter([]), hwaccel="auto")
        assert not p.stats()["streams"]


async def run_with(model: Path, clip: Path, hwaccel: Any) -> Tuple[int, Any]:
    async with Pipeline(model=model, devices="cpu:1") as p:
        cam = p.add_source(clip, name="cam", hwaccel=hwaccel)
        records = [r async for r in cam.results()]
        return len([r for r in records if r.ok]), p.stats()["streams"]["cam"]


@pytest.mark.parametrize("name", ["vaapi", "cuda", "qsv", "videotoolbox", "auto", "v4l2m2m"])
async def test_no_hardware_path_falls_back_to_software_once(
    model: Path, clip: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="streamcore.sources")
    done, stats = await run_with(model, clip, name)
    assert done == 8
    if stats["hwaccel_fallback"] is None:  # a machine with this hardware: it decoded there
        assert stats["decoder"] != "software"
        pytest.skip(f"{name} decoded on hardware here ({stats['decoder']})")
    assert stats["decoder"] == "software"
    notes = [r for r in caplog.records if "decoding in software" in r.getMessage()]
    assert len(notes) == 1 and f"hwaccel={name}" in notes[0].getMessage()
    assert stats["fused_frames"] == 8 and stats["reformatted_frames"] == 0


async def test_software_streams_report_their_decoder(model: Path, clip: Path) -> None:
    done, stats = await run_with(model, clip, None)
    assert done == 8 and stats["decoder"] == "software" and stats["hwaccel_fallback"] is None


async def test_a_device_that_opens_is_used(model: Path, clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first candidate that opens decodes the stream: Android's mediacodec never opens on
    Linux; then a software 'device' stands in (PyAV opens normally when given no hwaccel)."""
    from av.codec.hwaccel import HWAccel

    absent = HWAccel(device_type="mediacodec", allow_software_fallback=False)
    monkeypatch.setattr("streamcore.sources.av_source.open_candidates",
                        lambda name: [("mediacodec", absent), ("fake", None)])
    done, stats = await run_with(model, clip, "auto")
    assert done == 8 and stats["decoder"] == "fake" and stats["hwaccel_fallback"] is None


async def test_separate_decoder_path_decodes_every_frame(model: Path, clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """v4l2m2m decodes with its own codec context; the software h264 decoder stands in for it."""
    monkeypatch.setattr("streamcore.sources.av_source.m2m_decoder", lambda stream: hw.named_decoder(stream, "h264"))
    done, stats = await run_with(model, clip, "v4l2m2m")
    assert done == 8 and stats["decoder"] == "h264" and stats["hwaccel_fallback"] is None


def test_open_source_checks_the_name(clip: Path) -> None:
    with pytest.raises(InputError, match="PyAV"):
        open_source(str(clip), hwaccel="gpu")
    assert open_source(str(clip), hwaccel="vaapi").hwaccel == "vaapi"  # type: ignore[union-attr]


def test_cli_run_takes_hwaccel(model: Path, clip: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "streamcore", "run", "-m", str(model), "-d", "cpu:1",
                           "--hwaccel", "vaapi", "--stats-interval", "0", str(clip)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 9  # 8 results and the end record
    assert "decoding in software" in proc.stderr or '"decoder": "vaapi"' in proc.stderr
    bad = subprocess.run([sys.executable, "-m", "streamcore", "run", "-m", str(model), "-d", "cpu:1",
                          "--hwaccel", "nvdec", str(clip)], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "vaapi" in bad.stderr
