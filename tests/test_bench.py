"""`python -m streamcore bench`: JSON against the documented schema, CSV, plot, progress,
simulator labelling, and each bad input (exit 2, one clear line, no traceback)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from streamcore.tools.bench import CSV_COLUMNS, SCHEMA
from tests.reference import needs_tflite

ROOT = Path(__file__).resolve().parent.parent


def bench(*args: str, env: "Dict[str, str] | None" = None) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "streamcore", "bench", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, env={**os.environ, **(env or {})})


def validate(value: Any, schema: Dict[str, Any], where: str = "$") -> List[str]:
    """The JSON Schema subset SCHEMA uses: type, const, enum, oneOf, properties, required,
    items, minItems, minimum, maximum."""
    errors: List[str] = []
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    if "type" in schema:
        allowed = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = False
        for t in allowed:
            if t == "integer":
                ok |= isinstance(value, int) and not isinstance(value, bool)
            elif t == "number":
                ok |= isinstance(value, (int, float)) and not isinstance(value, bool)
            else:
                ok |= isinstance(value, types[t])
        if not ok:
            return [f"{where}: {value!r} is not {allowed}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "oneOf" in schema and sum(not validate(value, s, where) for s in schema["oneOf"]) != 1:
        errors.append(f"{where}: matches not exactly one of oneOf")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        errors += [f"{where}: missing {k!r}" for k in schema.get("required", []) if k not in value]
        for k, sub in schema.get("properties", {}).items():
            if k in value:
                errors += validate(value[k], sub, f"{where}.{k}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        for i, item in enumerate(value):
            errors += validate(item, schema.get("items", {}), f"{where}[{i}]")
    return errors


def test_the_validator_rejects_what_the_schema_forbids() -> None:
    assert validate({"schema": "x"}, SCHEMA)  # wrong const, missing keys
    result = SCHEMA["properties"]["results"]["items"]
    assert any("simulated" in e for e in validate({"simulated": "yes"}, result))


def test_default_run_shortened_validates_against_the_schema() -> None:
    out = bench("--seconds", "0.4", "--warmup", "1", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert validate(report, SCHEMA) == []
    assert "found the CPU" in out.stderr or "Edge TPU" in out.stderr  # says where it runs
    assert report["config"]["synthetic_clip"] is True
    assert {r["mode"] for r in report["results"]} == {"latency", "throughput", "pipeline"}
    for r in report["results"]:
        assert r["frames"] > 0 and r["fps"] > 0 and r["latency_ms"]["p50"] > 0
        assert r["stages_ms"]["invoke"] > 0 and r["stages_ms"]["preprocess"] > 0
        assert sum(d["frames"] for d in r["devices"]) >= r["frames"]
    pipeline = [r for r in report["results"] if r["mode"] == "pipeline"]
    assert all(r["stages_ms"]["decode"] > 0 for r in pipeline)
    assert "latency ms per frame" in out.stderr  # the table goes to stderr when JSON is on stdout


@needs_tflite
def test_simulator_baseline_csv_plot_and_json_file(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    paths = {k: tmp_path / f"out.{k}" for k in ("json", "csv", "png")}
    out = bench("--devices", "cpu:1", "--devices", "sim:2", "--mode", "throughput", "--streams", "2",
                "--frames", "40", "--warmup", "1", "--baseline", "--json", str(paths["json"]),
                "--csv", str(paths["csv"]), "--plot", str(paths["png"]))
    assert out.returncode == 0, out.stderr
    report = json.loads(paths["json"].read_text())
    assert validate(report, SCHEMA) == []
    results = report["results"]
    assert [(r["config"], r["baseline"]) for r in results] == [
        ("cpu:1", False), ("sim:2", False), ("baseline:cpu", True), ("baseline:sim", True)]
    for r in results:
        assert r["simulated"] == (r["kind"] == "sim")
        assert ("[SIMULATED]" in r["label"]) == r["simulated"]
        assert all(d["simulated"] == r["simulated"] for d in r["devices"])
        assert len(r["streams_detail"]) == 2
    engine = [r for r in results if not r["baseline"]]
    assert all(r["speedup_vs_baseline"] is not None for r in engine)
    sim_devices = [d for d in report["environment"]["devices"] if d["kind"] == "sim"]
    assert sim_devices and all(d["simulated"] for d in sim_devices)
    assert report["environment"]["simulator"]["simulated"] is True
    # Every table line about a simulated configuration says so.
    lines = [line for line in out.stdout.splitlines() if "sim:2" in line or "baseline sim" in line]
    assert lines and all("[SIMULATED]" in line or "SIMULATED" in line for line in lines)
    rows = list(csv.DictReader(paths["csv"].open()))
    assert list(rows[0]) == CSV_COLUMNS and len(rows) == 4
    assert [row["simulated"] for row in rows] == ["False", "True", "False", "True"]
    assert all(float(row["fps"]) > 0 for row in rows)
    png = paths["png"].read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


@needs_tflite
def test_cpu_model_runs_its_edgetpu_sibling_on_the_simulator(tmp_path: Path) -> None:
    from streamcore import models

    cpu = models.write(models.tiny_classifier((224, 224, 3), 1001), tmp_path / "m.tflite")
    models.write(models.edgetpu_classifier(), tmp_path / "m_edgetpu.tflite")
    out = bench("--model", str(cpu), "--devices", "cpu:1", "--devices", "sim:1", "--mode", "latency",
                "--frames", "5", "--warmup", "0", "--json", "--quiet")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    names = [(r["config"], r["model"]["name"], r["model"]["origin"]) for r in report["results"]]
    assert names == [("cpu:1", "m.tflite", "--model"), ("sim:1", "m_edgetpu.tflite", "edgetpu sibling")]
    assert any("m_edgetpu.tflite" in n for n in report["notes"])


def test_csv_to_stdout() -> None:
    out = bench("--devices", "cpu:1", "--mode", "latency", "--frames", "3", "--warmup", "0", "--csv", "--quiet")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(out.stdout.splitlines()))
    assert len(rows) == 1 and rows[0]["config"] == "cpu:1" and rows[0]["frames"] == "3"


@pytest.fixture(scope="module")
def non_image_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from streamcore import models

    return models.write(models.non_image_model(), tmp_path_factory.mktemp("m") / "features.tflite")


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--model", "missing.tflite"], {}, "model file not found: missing.tflite"),
        (["--video", "missing.mp4"], {}, "video not found: missing.mp4"),
        (["--devices", "usb:0"], {"STREAMCORE_LIBEDGETPU": "/nonexistent/libedgetpu.so.1"}, "libedgetpu1-std"),
        (["--devices", "cpu:0"], {}, "the count must be at least 1"),
        (["--devices", "cpu:1,sim:1"], {}, "mixes cpu and sim devices"),
        (["--streams", "0"], {}, "--streams 0: it must be at least 1"),
        (["--mode", "fast"], {}, "--mode 'fast'"),
        (["--model", "NONIMAGE"], {}, "not an image tensor"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(args: List[str], env: Dict[str, str], message: str,
                                               non_image_model: Path) -> None:
    out = bench(*[str(non_image_model) if a == "NONIMAGE" else a for a in args], "--quiet", env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.startswith("streamcore bench: error:") and out.stdout == ""


def test_plot_without_matplotlib_fails_before_measuring(tmp_path: Path) -> None:
    fake = tmp_path / "matplotlib"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('hidden for this test')\n")
    out = bench("--plot", str(tmp_path / "x.png"), env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"})
    assert out.returncode == 2
    assert "needs matplotlib" in out.stderr and "streamcore[plot]" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "x.png").exists()


def test_every_cpu_backend_side_by_side_with_its_own_baseline() -> None:
    from streamcore.backends import registry

    specs = {"tflite": "tflite:cpu:1", "litert": "litert:cpu:1", "openvino": "openvino:CPU"}
    present = {name: spec for name, spec in specs.items() if registry.get(name).unavailable() is None}
    if len(present) < 2:
        pytest.skip(f"fewer than two CPU backends installed here: {sorted(present)}")
    args = [a for spec in present.values() for a in ("--devices", spec)]
    out = bench(*args, "--mode", "latency", "--frames", "12", "--warmup", "1", "--baseline", "--json", "--quiet")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert validate(report, SCHEMA) == []
    engine = [r for r in report["results"] if not r["baseline"]]
    assert [r["config"] for r in engine] == list(present.values())
    assert [r["devices"][0]["backend"] for r in engine] == list(present)
    # Each backend is compared with that runtime's own hand-written loop.
    families = {"tflite": "cpu", "litert": "litert", "openvino": "openvino"}
    baselines = [r["config"] for r in report["results"] if r["baseline"]]
    assert baselines == [f"baseline:{families[name]}" for name in present]
    assert all(r["speedup_vs_baseline"] is not None for r in engine)
    listed = {b["backend"]: b for b in report["environment"]["backends"]}
    assert all(listed[name]["available"] and listed[name]["version"] for name in present)
    assert "edgetpu" in listed
