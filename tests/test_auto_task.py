"""Adapter auto-detection (`run` and `bench`) for classification, detection, segmentation and
pose, `run`'s strict JSON for each, and bench on segmentation and pose models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence

import pytest

from streamcore import Classify, Detect, Pose, Segment, models
from streamcore.adapters.auto import guess_task, make_adapter
from streamcore.engine.model import Model
from streamcore.errors import InputError
from streamcore.tools.bench import SCHEMA
from streamcore.tools.bench.plan import inspect_model
from tests.media import make_clip
from tests.test_bench import validate

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("shapes,postprocess,task", [
    ([[1, 10, 4], [1, 10], [1, 10], [1]], True, "detect"),
    ([[1, 10], [1, 10, 4], [1], [1, 10]], False, "detect"),  # TF2 order, four outputs
    ([[1, 1, 17, 3]], False, "pose"),
    ([[1, 17, 3]], False, "pose"),
    ([[1, 513, 513]], False, "segment"),
    ([[1, 64, 64, 21]], False, "segment"),
    ([[1, 1001]], False, "classify"),
    ([[1, 1, 1, 1001]], False, "classify"),
    ([[1, 1, 17, 3], [1, 4]], False, "classify"),  # two outputs: not MoveNet single-pose
    ([], False, "classify"),
])
def test_guess_task(shapes: List[List[int]], postprocess: bool, task: str) -> None:
    assert guess_task(shapes, postprocess) == task


def test_make_adapter() -> None:
    assert isinstance(make_adapter("classify"), Classify)
    assert isinstance(make_adapter("detect"), Detect) and make_adapter("detect").threshold == 0.5
    assert isinstance(make_adapter("segment", labels={0: "a"}), Segment)
    assert isinstance(make_adapter("pose"), Pose)
    with pytest.raises(InputError, match="unknown task"):
        make_adapter("caption")


@pytest.mark.parametrize("build,task", [
    (lambda: models.tiny_classifier((32, 32, 3), 4), "classify"),
    (lambda: models.tiny_detector(), "detect"),
    (lambda: models.tiny_segmenter((32, 32), 4, False), "segment"),
    (lambda: models.tiny_segmenter((32, 32), 4, True), "segment"),
    (lambda: models.tiny_pose(), "pose"),
])
def test_bench_inspects_the_task_from_the_flatbuffer(build: Any, task: str) -> None:
    shape, found = inspect_model(Model(build()))
    assert found == task and shape[2] == 3


def test_bench_inspects_the_real_models(shared_data: Path) -> None:
    for name, task in (("deeplabv3_mnv2_pascal_quant.tflite", "segment"),
                       ("movenet_single_pose_lightning_ptq.tflite", "pose"),
                       ("movenet_single_pose_lightning_ptq_edgetpu.tflite", "pose"),
                       ("ssd_mobilenet_v1_coco_quant_postprocess.tflite", "detect"),
                       ("mobilenet_v2_1.0_224_quant.tflite", "classify")):
        assert inspect_model(Model(shared_data / "models" / name))[1] == task, name


# ---------------------------------------------------------------- run

def run_cli(*args: str, cwd: Path) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "streamcore", "run", *args], capture_output=True, text=True,
                          timeout=90, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=cwd)


def results(text: str) -> List[Dict[str, Any]]:
    # json.loads refuses nothing by default: parse_constant makes NaN/Infinity fail the test
    def no_constants(name: str) -> None:
        raise AssertionError(f"non-strict JSON constant {name}")

    records = [json.loads(line, parse_constant=no_constants) for line in text.splitlines() if line.startswith("{")]
    return [r for r in records if r["kind"] == "result"]


@pytest.mark.parametrize("argmax", [False, True])
def test_run_segmentation_prints_class_fractions(tmp_path: Path, argmax: bool) -> None:
    model = models.write(models.tiny_segmenter((32, 32), 4, argmax), tmp_path / "seg.tflite")
    clip = make_clip(tmp_path / "a.mp4", frames=6, size=(64, 64))
    labels = tmp_path / "labels.txt"
    labels.write_text("red\ngreen\nblue\n")
    done = run_cli("-m", str(model), "-l", str(labels), "-d", "cpu:1", str(clip), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = results(done.stdout)
    assert [r["index"] for r in records] == list(range(6))
    for r in records:
        value = r["value"]
        assert value["mask"] == {"height": 8, "width": 8, "space": "model"}  # summarised, not the mask
        classes = value["classes"]
        assert classes and all(c["label"] in ("red", "green", "blue") for c in classes)
        assert [c["id"] for c in classes] == sorted(c["id"] for c in classes)
        assert sum(c["fraction"] for c in classes) == pytest.approx(1.0, abs=1e-5)
    assert max(len(line) for line in done.stdout.splitlines()) < 1000


def test_run_pose_prints_keypoints(tmp_path: Path) -> None:
    model = models.write(models.tiny_pose(), tmp_path / "pose.tflite")
    clip = make_clip(tmp_path / "a.mp4", frames=4, size=(96, 64))
    done = run_cli("-m", str(model), "-d", "cpu:1", "--fit", "letterbox", str(clip), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = results(done.stdout)
    assert len(records) == 4
    for r in records:
        points = r["value"]
        assert [p["name"] for p in points][:3] == ["nose", "left_eye", "right_eye"] and len(points) == 17
        assert all(0 <= p["x"] <= 96 and 0 <= p["y"] <= 64 and 0 <= p["score"] <= 1 for p in points)
        assert set(points[0]) == {"id", "name", "x", "y", "score"}


def test_run_task_flag_forces_an_adapter(tmp_path: Path) -> None:
    # a segmenter forced through Pose: each frame is an error record naming what Pose reads
    model = models.write(models.tiny_segmenter((32, 32), 4, False), tmp_path / "seg.tflite")
    clip = make_clip(tmp_path / "a.mp4", frames=2, size=(64, 64))
    done = run_cli("-m", str(model), "-d", "cpu:1", "--task", "pose", str(clip), cwd=tmp_path)
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["kind"] for r in records] == ["error", "error", "end"], done.stderr
    assert all("not a MoveNet single-pose model" in r["error"]["message"] for r in records[:2])


def test_run_real_deeplab_on_an_image(shared_data: Path, tmp_path: Path) -> None:
    done = run_cli("-m", str(shared_data / "models" / "deeplabv3_mnv2_pascal_quant.tflite"),
                   "-l", str(shared_data / "models" / "pascal_voc_segmentation_labels.txt"), "-d", "cpu:1",
                   str(shared_data / "images" / "grace_hopper.bmp"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (record,) = results(done.stdout)
    fractions = {c["label"]: c["fraction"] for c in record["value"]["classes"]}
    assert fractions == pytest.approx({"background": 0.319, "person": 0.681}, abs=0.02)


# ---------------------------------------------------------------- bench

def bench(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "streamcore", "bench", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("name,build", [
    ("seg", lambda: models.tiny_segmenter((32, 32), 4, True)),
    ("pose", lambda: models.tiny_pose()),
])
def test_bench_runs_segmentation_and_pose_models(tmp_path: Path, name: str, build: Any) -> None:
    model = models.write(build(), tmp_path / f"{name}.tflite")
    out = bench("--model", str(model), "--devices", "cpu:1", "--mode", "latency", "--frames", "5", "--warmup", "1",
                "--baseline", "--json", "--quiet")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert validate(report, SCHEMA) == []
    rows: Sequence[Dict[str, Any]] = report["results"]
    # the baseline loop is named for its runtime: baseline:cpu (tflite) or baseline:litert (3.12+)
    assert [(r["config"], r["baseline"]) for r in rows][0] == ("cpu:1", False)
    assert len(rows) == 2 and rows[1]["baseline"] and rows[1]["config"].startswith("baseline:")
    assert all(r["frames"] == 5 and r["errors"] == 0 for r in rows)
    assert all(r["stages_ms"]["postprocess"] is not None for r in rows)
