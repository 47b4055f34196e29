"""CLI errors: one clear line, exit status 2, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "streamcore", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize(
    "args, message",
    [
        (["classify", "--model", "missing.tflite", "x.jpg"], "model file not found"),
        (["classify", "--model", "tests/conftest.py", "x.jpg"], "not a TensorFlow Lite model"),
    ],
)
def test_classify_errors(args: list, message: str) -> None:  # type: ignore[type-arg]
    out = run(*args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


def test_classify_missing_image(tiny_model: Path) -> None:
    out = run("classify", "--model", str(tiny_model), "nope.jpg")
    assert out.returncode == 2 and "image not found: nope.jpg" in out.stderr


def test_classify_on_a_synthetic_model(tiny_model: Path, tmp_path: Path) -> None:
    import av
    import numpy as np

    image = tmp_path / "img.png"
    frame = av.VideoFrame.from_ndarray(np.full((40, 50, 3), 90, np.uint8), format="rgb24")
    with av.open(str(image), "w", format="image2") as out:
        stream = out.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 50, 40, "rgb24"
        for packet in stream.encode(frame):
            out.mux(packet)
    done = run("classify", "--model", str(tiny_model), "-k", "2", "-c", "2", str(image))
    assert done.returncode == 0, done.stderr
    results = done.stdout.split("-------RESULTS--------")[1].split()
    assert len(results) == 4  # two "id: score" pairs


def test_devices_without_libedgetpu_says_how_to_install() -> None:
    out = subprocess.run([sys.executable, "-m", "streamcore", "devices"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, env={**os.environ, "STREAMCORE_LIBEDGETPU": "/nonexistent/libedgetpu.so.1"})
    assert out.returncode == 0
    assert "not available" in out.stdout and "libedgetpu1-std" in out.stdout


def test_devices_json_lists_simulated_devices_as_simulated() -> None:
    out = run("devices", "--json", "--sim", "3")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert "SIMULATOR" in report["version"] and report["simulated"] is True
    assert [d["path"] for d in report["devices"]] == ["sim:0", "sim:1", "sim:2"]
    assert all(d["simulated"] and d["state"] == "available" for d in report["devices"])
