"""Prometheus /metrics: scraped over HTTP and parsed with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np
import pytest

prometheus_client = pytest.importorskip("prometheus_client", reason="prometheus-client is not installed")
zmq = pytest.importorskip("zmq", reason="pyzmq is not installed")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

import streamcore  # noqa: E402
from streamcore import models  # noqa: E402
from streamcore.errors import ServiceError  # noqa: E402
from streamcore.services.metrics import STREAM_STATES, MetricsServer  # noqa: E402
from streamcore.services.zmq_detector import ZmqDetectorService  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.frigate_zmq_client import FrigateZmqClient  # noqa: E402
from tests.reference import needs_tflite  # noqa: E402

HANG_GUARD_S = 60.0
Samples = Dict[str, List[Tuple[Dict[str, str], float]]]


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sc-met-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def scrape(url: str) -> Tuple[Dict[str, str], Samples]:
    """(family name -> type, sample name -> [(labels, value)]), read in a thread: the collector
    asks the event loop for its snapshot, so the loop must stay free."""
    def get() -> str:
        with urllib.request.urlopen(url, timeout=HANG_GUARD_S) as response:
            text: str = response.read().decode()
            return text

    text = await asyncio.wait_for(asyncio.to_thread(get), HANG_GUARD_S)
    types: Dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            samples.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
    return types, samples


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for l, v in samples.get(name, []) if all(l.get(k) == want for k, want in labels.items()))


@needs_tflite
async def test_serve_metrics(sock_dir: Path) -> None:
    model = models.write(models.edgetpu_detector(), sock_dir / "sim_ssd_edgetpu.tflite")
    endpoint = f"ipc://{sock_dir}/zmq"
    metrics = MetricsServer(0)
    service = ZmqDetectorService(model, "sim:2", endpoint=endpoint, on_result=metrics.observe_result)
    metrics.add_service(service)
    async with service:
        metrics.start()
        try:
            def ask(n: int) -> None:
                client = FrigateZmqClient(endpoint, request_timeout_ms=30_000)
                try:
                    rng = np.random.default_rng(0)
                    for _ in range(n):
                        client.detect_raw(rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8))
                    client.detect_raw(np.zeros((1, 8, 8, 3), np.uint8))  # a refused request
                finally:
                    client.close()

            await asyncio.wait_for(asyncio.to_thread(ask, 10), HANG_GUARD_S)
            types, samples = await scrape(metrics.url)
        finally:
            metrics.close()
    assert types["streamcore_device_inference_seconds"] == "histogram"
    assert types["streamcore_serve_requests"] == "counter" and types["streamcore_device_frames"] == "counter"
    assert total(samples, "streamcore_device_inference_seconds_count") == 10
    assert {l["device"] for l, _ in samples["streamcore_device_inference_seconds_count"]} == {"sim0", "sim1"}
    assert total(samples, "streamcore_serve_requests_total", result="ok") == 10
    assert total(samples, "streamcore_serve_requests_total", result="error") == 1
    assert total(samples, "streamcore_device_frames_total") == 10
    for name in ("streamcore_device_simulated", "streamcore_device_healthy"):
        assert [(l["device"], l["simulated"], v) for l, v in samples[name]] == [
            ("sim0", "true", 1.0), ("sim1", "true", 1.0)]
    assert total(samples, "streamcore_serve_model_loaded", model=model.name) == 1
    assert {l["quantile"] for l, _ in samples["streamcore_loop_lag_seconds"]} >= {"0.5", "0.99"}


async def test_pipeline_metrics_port() -> None:
    model = models.tiny_detector((64, 64))
    frame = np.zeros((64, 64, 3), np.uint8)
    async with streamcore.Pipeline(model=model, devices="cpu:1", metrics_port=0) as p:
        assert p.metrics is not None
        stream = p.add_source([frame] * 7, name="yard")
        async for record in stream.results():
            if record.kind == "end":
                break
        while p.stats()["loop_lag"]["p50_ms"] is None:  # the lag monitor's first sample (20 ms)
            await asyncio.sleep(0.01)
        types, samples = await scrape(p.metrics.url)
    assert types["streamcore_stream_camera_fps"] == "gauge"
    assert total(samples, "streamcore_stream_frames_total", stream="yard") == 7
    assert total(samples, "streamcore_stream_errors_total", stream="yard") == 0
    states = {l["state"]: v for l, v in samples["streamcore_stream_state"] if l["stream"] == "yard"}
    assert set(states) == set(STREAM_STATES) and states["ended"] == 1 and sum(states.values()) == 1
    for name in ("camera_fps", "process_fps", "skipped_fps", "detection_fps"):
        assert f"streamcore_stream_{name}" in samples
    assert total(samples, "streamcore_device_inference_seconds_count", device="cpu0") == 7
    assert total(samples, "streamcore_device_frames_total", device="cpu0") == 7
    assert "streamcore_device_busy_seconds_total" in samples and "streamcore_loop_lag_seconds" in samples
    assert total(samples, "streamcore_completion_frames_total") == 7
    assert 1 <= total(samples, "streamcore_completion_drains_total") <= 7
    assert types["streamcore_completion_deferred_drains"] == "counter"


def test_a_port_in_use_is_a_service_error_and_cli_exit_2(tiny_model: Path) -> None:
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    port = held.getsockname()[1]
    try:
        with pytest.raises(ServiceError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            MetricsServer(port).start()
        with pytest.raises(ServiceError):
            MetricsServer(70000)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for command in (["run", "--model", str(tiny_model), "--devices", "cpu:1", "--metrics-port", str(port),
                         str(tiny_model)],
                        ["serve", "--devices", "cpu:1", "--zmq", f"ipc://{tempfile.gettempdir()}/sc-met-unused",
                         "--metrics-port", str(port)]):
            proc = subprocess.run([sys.executable, "-m", "streamcore", *command], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=HANG_GUARD_S)
            assert proc.returncode == 2, proc.stderr
            errors = [line for line in proc.stderr.splitlines() if "error" in line]
            assert len(errors) == 1 and f"cannot serve metrics on 127.0.0.1:{port}" in errors[0], proc.stderr
    finally:
        held.close()
