"""Hardening: credentials never leave in any output, strict JSON everywhere, the simulator is
always named, and Ctrl-C at any moment of `run` is one line and status 130."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

import streamcore
from streamcore import Class, StreamResult, models, redact
from streamcore.backends import registry
from streamcore.jsonsafe import clean, dumps
from streamcore.pipeline.records import to_jsonable
from streamcore.tools.bench.export import to_json
from streamcore.tools.cli import main as cli_main

from tests.media import count_frames, make_clip

ROOT = Path(__file__).resolve().parent.parent

SECRETS = ("S3c", "retPW", "tok3n", "k3y", "s1gn", "AKIAXX", "amzsig", "sess10n", "phr4se", "shh")


def secret_url(port: int) -> str:
    """A URL that carries every kind of secret, to a loopback port where nothing listens."""
    return (f"rtsp://admin:S3c@retPW@127.0.0.1:{port}/stream?access_token=tok3n&api_key=k3y&sig=s1gn"
            "&X-Amz-Credential=AKIAXX&X-Amz-Signature=amzsig&X-Amz-Security-Token=sess10n"
            "&passphrase=phr4se&secret=shh&channel=1")


def assert_no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{leaked} leaked in: {text[:2000]}"


def strict_loads(text: str) -> Any:
    """json.loads that rejects NaN, Infinity and -Infinity, as jq and JSON.parse do."""
    def reject(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=reject)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env() -> Dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.write(models.tiny_classifier((32, 32, 3), 4), tmp_path_factory.mktemp("m") / "tiny.tflite")


# -- 1. redaction ------------------------------------------------------------------------


@pytest.mark.parametrize("url, expected", [
    ("rtsp://admin:S3c@retPW@cam.local/stream", "rtsp://***@cam.local/stream"),
    ("rtsp://a:b@c@d@cam.local:554", "rtsp://***@cam.local:554"),
    ("cannot open 'rtsp://u:p@ss@cam/x' now", "cannot open 'rtsp://***@cam/x' now"),
    ("http://cam/x?user=me&Password=pw&token=t", "http://cam/x?user=***&Password=***&token=***"),
    ("http://h/a?ACCESS_TOKEN=1&Api_Key=2&apikey=3&sig=4&signature=5&passphrase=6&secret=7&key=8",
     "http://h/a?ACCESS_TOKEN=***&Api_Key=***&apikey=***&sig=***&signature=***&passphrase=***&secret=***&key=***"),
    ("https://b.s3.amazonaws.com/v.mp4?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F1&X-Amz-Date=2024"
     "&X-Amz-Security-Token=tt&x-amz-signature=ab12",
     "https://b.s3.amazonaws.com/v.mp4?X-Amz-Algorithm=AWS4&X-Amz-Credential=***&X-Amz-Date=2024"
     "&X-Amz-Security-Token=***&x-amz-signature=***"),
    ("http://h/?client_secret=1;refresh_token=2&keyframe=3&monkey=4",
     "http://h/?client_secret=***;refresh_token=***&keyframe=3&monkey=4"),
    ("http://host/path/user@example.com", "http://host/path/user@example.com"),  # @ in the path
    ("/videos/a@b.mp4", "/videos/a@b.mp4"),
])
def test_redact(url: str, expected: str) -> None:
    assert redact(url) == expected


async def test_pipeline_outputs_never_show_credentials(model: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = secret_url(free_port())
    records: List[StreamResult] = []
    async with streamcore.Pipeline(model=str(model), devices="cpu:1") as p:
        stream = p.add_source(url, reconnect=False, open_timeout=3)
        async for r in p.results():
            records.append(r)
        stats = p.stats()
        texts = [repr(p), repr(stream), stream.url, stream.name, str(p.streams)]
    assert records and records[-1].kind == "end" and records[-1].error is not None
    assert "***@127.0.0.1" in str(records[-1].error)
    for r in records:
        texts += [str(r.error), repr(r.error), dumps(r.to_dict()), repr(r)]
    texts += [json.dumps(stats), str(stats)]
    texts += [rec.getMessage() for rec in caplog.records]
    texts += [caplog.text]
    for text in texts:
        assert_no_secret(text)


def test_run_command_never_shows_credentials(model: Path, tmp_path: Path) -> None:
    url = secret_url(free_port())
    proc = subprocess.Popen([sys.executable, "-m", "streamcore", "run", "-m", str(model), "-d", "cpu:1",
                             "--stats-interval", "0.2", url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=tmp_path)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the first failed connection (a live source retries)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    out = first + out
    assert proc.returncode == 130, err
    assert strict_loads(first)["kind"] == "error" and "***@127.0.0.1" in first
    assert_no_secret(out)
    assert_no_secret(err)
    assert any(line.startswith("{") for line in err.splitlines())  # the stats lines were checked


def test_bench_video_url_error_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli_main(["bench", "--quiet", "--video", secret_url(554)])
    out, err = capsys.readouterr()
    assert status == 2
    assert "rtsp://***@127.0.0.1:554/stream" in err
    assert_no_secret(out + err)


# -- 3. strict JSON ----------------------------------------------------------------------


def test_dumps_turns_nan_and_infinity_into_null() -> None:
    import numpy as np

    value = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": np.float32("inf"), "d": np.array([np.nan, 2.0]),
             "e": (1, np.int64(3)), 5: True}
    assert strict_loads(dumps(value)) == {"a": None, "b": [None, None, 1.5], "c": None, "d": [None, 2.0],
                                          "e": [1, 3], "5": True}
    assert clean(math.nan) is None
    record = StreamResult("s", "result", index=0, time=math.nan)
    assert strict_loads(json.dumps(record.to_dict(), allow_nan=False))["time"] is None
    assert strict_loads(dumps(to_jsonable([Class(1, math.inf, "x")])))[0]["score"] is None
    assert strict_loads(to_json({"fps": math.nan, "latency": {"p50": math.inf}})) == {"fps": None,
                                                                                    "latency": {"p50": None}}


def test_run_prints_strict_json_with_real_times_for_flushed_frames(model: Path, tmp_path: Path) -> None:
    # B-frames (preset veryfast): the decoder holds the last frames until it is flushed.
    clip = make_clip(tmp_path / "b.mp4", frames=30, fps=10, x264={"preset": "veryfast", "bf": "3"})
    assert count_frames(clip) == 30
    for extra, expected in (([], list(range(30))), (["--fps", "5"], list(range(0, 30, 2)))):
        done = subprocess.run([sys.executable, "-m", "streamcore", "run", "-m", str(model), "-d", "cpu:1",
                               "--stats-interval", "0.05", *extra, str(clip)],
                              capture_output=True, text=True, timeout=60, env=env(), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "NaN" not in done.stdout and "Infinity" not in done.stdout
        records = [strict_loads(line) for line in done.stdout.splitlines()]
        stats = [strict_loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
        assert stats and stats[-1]["final"] is True
        results = [r for r in records if r["kind"] == "result"]
        assert [r["index"] for r in results] == expected, extra
        times = [r["time"] for r in results]
        assert times == pytest.approx([i / 10 for i in expected]), extra


# -- 4. the simulator says so ------------------------------------------------------------


def _tflite_reason() -> "str | None":
    return registry.get("tflite").unavailable()


@pytest.mark.skipif(_tflite_reason() is not None, reason=f"the Edge TPU simulator needs tflite_runtime: {_tflite_reason()}")
def test_classify_and_run_on_sim_say_simulated(tmp_path: Path) -> None:
    import av
    import numpy as np

    from streamcore.tools.synthetic.edgetpu import edgetpu_model

    model = tmp_path / "sim_edgetpu.tflite"
    model.write_bytes(edgetpu_model(16, 16, (5,)))
    image = tmp_path / "img.png"
    frame = av.VideoFrame.from_ndarray(np.full((20, 30, 3), 90, np.uint8), format="rgb24")
    with av.open(str(image), "w", format="image2") as out:
        stream = out.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 30, 20, "rgb24"
        for packet in stream.encode(frame):
            out.mux(packet)
    done = subprocess.run([sys.executable, "-m", "streamcore", "classify", "-m", str(model), "-d", "sim:2",
                           "-c", "1", str(image)], capture_output=True, text=True, timeout=60, env=env())
    assert done.returncode == 0, done.stderr
    assert "device sim0 [SIMULATED: no Edge TPU hardware]" in done.stdout
    assert "device sim1 [SIMULATED: no Edge TPU hardware]" in done.stdout
    clip = make_clip(tmp_path / "c.mp4", frames=4)
    done = subprocess.run([sys.executable, "-m", "streamcore", "run", "-m", str(model), "-d", "sim:1", str(clip)],
                          capture_output=True, text=True, timeout=60, env=env())
    assert done.returncode == 0, done.stderr
    assert "device sim0 [SIMULATED: no Edge TPU hardware]" in done.stderr
    final = [strict_loads(line) for line in done.stderr.splitlines() if line.startswith("{")][-1]
    assert final["stats"]["devices"]["sim0"]["simulated"] is True


def test_classify_on_cpu_says_nothing_about_a_simulator(tiny_model: Path, tmp_path: Path) -> None:
    from streamcore.tools.cli.classify import simulated_lines

    assert simulated_lines([{"name": "cpu0", "simulated": False}]) == []
    assert simulated_lines([{"name": "sim0", "simulated": True}] * 2) == [
        "device sim0 [SIMULATED: no Edge TPU hardware]"]


# -- 5. Ctrl-C at any moment -------------------------------------------------------------


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("v") / "long.mp4", frames=100, fps=20)


@pytest.mark.parametrize("delay", [0.1, 0.3, 0.6])
def test_sigint_during_startup_is_one_line_and_130(model: Path, long_clip: Path, delay: float) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "streamcore", "run", "-m", str(model), "-d", "cpu:1",
                             "--realtime", str(long_clip)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    if delay < 0.2:
        # As early as streamcore can act: once the package's imports are under way (numpy
        # mapped). Before that, CPython itself is starting, and only its own handler exists.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if "multiarray" in Path(f"/proc/{proc.pid}/maps").read_text():
                    break
            except OSError:
                pass
            time.sleep(0.005)
    else:
        time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    # Not ours: the final stats line (if the pipeline ran) and TFLite's own INFO chatter.
    lines = [line for line in err.splitlines() if not line.startswith(("{", "INFO: "))]
    assert lines == ["streamcore run: stopped"], err
    for line in out.splitlines():
        strict_loads(line)


def test_importing_streamcore_keeps_pythons_sigint_handling() -> None:
    code = "import signal, streamcore; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env())
    assert done.stdout.strip() == "True", done.stderr
