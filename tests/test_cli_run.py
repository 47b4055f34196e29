"""`python -m streamcore run` in a subprocess: JSON lines, stats lines, Ctrl-C, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from streamcore import models

from tests.media import make_clip

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.write(models.tiny_classifier((32, 32, 3), 4), tmp_path_factory.mktemp("m") / "tiny.tflite")


def cli(*args: str) -> List[str]:
    return [sys.executable, "-m", "streamcore", "run", *args]


def env() -> Dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def json_lines(text: str) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_files_to_json_lines_with_stats(model: Path, tmp_path: Path) -> None:
    a = make_clip(tmp_path / "a.mp4", frames=12)
    b = make_clip(tmp_path / "b.mp4", frames=8, size=(96, 64))
    labels = tmp_path / "labels.txt"
    labels.write_text("zero\none\ntwo\nthree\n")
    done = subprocess.run(cli("-m", str(model), "-l", str(labels), "-d", "cpu:2", "-k", "1",
                              "--stats-interval", "0.02", str(a), str(b)),
                          capture_output=True, text=True, timeout=60, env=env(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = json_lines(done.stdout)
    for name, frames in (("a", 12), ("b", 8)):
        mine = [r for r in records if r["stream"] == name]
        assert [r["index"] for r in mine if r["kind"] == "result"] == list(range(frames))
        assert mine[-1]["kind"] == "end" and "error" not in mine[-1]
    first = next(r for r in records if r["kind"] == "result")
    assert first["value"][0]["label"] in ("zero", "one", "two", "three") and first["device"] in ("cpu0", "cpu1")
    stats = json_lines(done.stderr)
    assert stats and stats[-1].get("final") is True
    assert stats[-1]["stats"]["streams"]["a"]["frames"] == 12 and "cpu1" in stats[-1]["stats"]["devices"]


def test_ctrl_c_stops_cleanly(model: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "long.mp4", frames=200, fps=20)  # 10 s at its own rate
    proc = subprocess.Popen(cli("-m", str(model), "-d", "cpu:1", "--realtime", "--stats-interval", "0.2", str(clip)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=tmp_path)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # wait until frames flow
    assert json.loads(first)["kind"] == "result"
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)  # the hang guard: seconds, not a latency bound
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "stopped" in err
    records = json_lines(first + out)
    results = [r for r in records if r["kind"] == "result"]
    assert 3 <= len(results) < 200
    assert [r["index"] for r in results] == list(range(len(results)))
    assert json_lines(err)[-1].get("final") is True


def test_a_failed_source_is_reported_and_exits_1(model: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    done = subprocess.run(cli("-m", str(model), "-d", "cpu:1", str(bad)),
                          capture_output=True, text=True, timeout=60, env=env(), cwd=tmp_path)
    assert done.returncode == 1
    end = json_lines(done.stdout)[-1]
    assert end["kind"] == "end" and end["error"]["type"] == "UnsupportedSourceError"


def test_missing_source_is_a_one_line_error(model: Path, tmp_path: Path) -> None:
    done = subprocess.run(cli("-m", str(model), "-d", "cpu:1", str(tmp_path / "nope.mp4")),
                          capture_output=True, text=True, timeout=60, env=env(), cwd=tmp_path)
    assert done.returncode == 2
    assert "streamcore run: error: no such file" in done.stderr and "Traceback" not in done.stderr


def test_a_file_that_decodes_no_frame_exits_1(model: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.ts", frames=20, container_format="mpegts")
    empty = tmp_path / "empty.ts"
    empty.write_bytes(clip.read_bytes()[:752])  # the stream's tables, not one whole frame
    done = subprocess.run(cli("-m", str(model), "-d", "cpu:1", str(empty)),
                          capture_output=True, text=True, timeout=60, env=env(), cwd=tmp_path)
    assert not [r for r in json_lines(done.stdout) if r.get("kind") == "result"]
    assert done.returncode == 1, done.stderr
    assert "empty: ended without a single decoded frame" in done.stderr


def test_a_model_in_segments_gives_the_whole_models_results(tmp_path: Path) -> None:
    whole, seg0, seg1 = models.tiny_segments((32, 32, 3), num_classes=4)
    paths = {}
    for name, data in (("whole", whole), ("seg0", seg0), ("seg1", seg1)):
        paths[name] = tmp_path / f"{name}.tflite"
        paths[name].write_bytes(data)
    clip = make_clip(tmp_path / "a.mp4", frames=10)

    def values(*model_args: str) -> List[Any]:
        done = subprocess.run(cli(*model_args, "-d", "cpu:2", "-k", "2", str(clip)),
                              capture_output=True, text=True, timeout=60, env=env(), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        records = [r for r in json_lines(done.stdout) if r["kind"] == "result"]
        assert [r["index"] for r in records] == list(range(10))
        return [r["value"] for r in records]

    assert values("-m", str(paths["seg0"]), "--segment", str(paths["seg1"])) == values("-m", str(paths["whole"]))


def test_segments_and_a_cascade_are_refused_together(tmp_path: Path) -> None:
    done = subprocess.run(cli("-m", "a.tflite", "--segment", "b.tflite", "--classifier", "c.tflite", "x.mp4"),
                          capture_output=True, text=True, timeout=60, env=env(), cwd=tmp_path)
    assert done.returncode == 2 and "--segment and --classifier" in done.stderr
