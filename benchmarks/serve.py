"""`serve` (Frigate's ZMQ detector protocol) against the same engine called directly.

    python benchmarks/serve.py [--seconds 3] [--json]

For `sim:2` (streamcore's SIMULATED libedgetpu, 2.6 ms per invoke, on a synthetic SSD-shaped
Edge TPU model with a 300x300 input) and `cpu:2` (the real ssd_mobilenet_v1 COCO model from
../shared/data, else the synthetic tiny_detector at 304x304), measured side by side in one run:

- `engine infer_tensor`: `Engine.infer_tensor` in this process, 1 caller in sequence and 4
  concurrent callers (the raw-tensor path `serve` uses);
- `engine infer`: `Engine.infer` on a 300x300 RGB numpy frame (preprocess included), 1 caller;
- `serve`: the service in this process, with 1 and 4 client processes that behave like
  Frigate's plugin (a blocking REQ socket, one request at a time, header + tensor bytes) over
  IPC; FPS = replies / wall time of the window, latency = client round trip.

Overhead per request = serve (1 client) p50 - engine infer_tensor (1 caller) p50, i.e. ZMQ
transport, JSON header, the reply's rows and the client's own work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import percentile, print_table, shared_data  # noqa: E402

from streamcore import Engine, models  # noqa: E402
from streamcore.services.zmq_detector import ZmqDetectorService  # noqa: E402


def configurations() -> List[Tuple[str, str, Any, int]]:
    """(label, devices, model, input size)."""
    data = shared_data()
    if data is not None:
        cpu_model: Any = data / "models" / "ssd_mobilenet_v1_coco_quant_postprocess.tflite"
        cpu_size = 300
    else:
        cpu_model, cpu_size = models.tiny_detector((304, 304)), 304
    return [
        ("sim:2 [SIMULATED]", "sim:2", models.edgetpu_detector(300), 300),
        ("cpu:2", "cpu:2", cpu_model, cpu_size),
    ]


def client(endpoint: str, size: int, start_at: float, stop_at: float, seed: int, out: Any) -> None:
    import zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 30_000)
    sock.connect(endpoint)
    rng = np.random.default_rng(seed)
    tensors = [rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8) for _ in range(8)]
    header = json.dumps({"shape": [1, size, size, 3], "dtype": "uint8", "model_type": "ssd"}).encode()
    latencies: List[float] = []
    errors = 0
    i = 0
    while time.time() < start_at:  # warm up until the window opens
        sock.send_multipart([header, tensors[i % 8].tobytes()])
        sock.recv_multipart()
        i += 1
    while time.time() < stop_at:
        t = time.perf_counter()
        sock.send_multipart([header, memoryview(tensors[i % 8].tobytes())])
        reply = sock.recv_multipart()
        latencies.append(time.perf_counter() - t)
        errors += len(reply) != 1 or len(reply[0]) != 480
        i += 1
    sock.close(0)
    ctx.term()
    out.put((latencies, errors))


async def engine_run(engine: Engine, tensor: Any, callers: int, seconds: float, raw: bool) -> Dict[str, float]:
    latencies: List[float] = []
    stop_at = time.perf_counter() + seconds

    async def caller() -> None:
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            if raw:
                await engine.infer_tensor(tensor)
            else:
                await engine.infer(tensor[0])
            latencies.append(time.perf_counter() - t)

    for _ in range(5):
        await (engine.infer_tensor(tensor) if raw else engine.infer(tensor[0]))
    t0 = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    wall = time.perf_counter() - t0
    return {"fps": len(latencies) / wall, "p50_ms": percentile(latencies, 50) * 1e3,
            "p99_ms": percentile(latencies, 99) * 1e3}


async def serve_run(endpoint: str, size: int, clients: int, seconds: float) -> Dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    start_at = time.time() + 2.0  # process start-up and warm-up before the window
    stop_at = start_at + seconds
    procs = [ctx.Process(target=client, args=(endpoint, size, start_at, stop_at, k, queue), daemon=True)
             for k in range(clients)]
    for p in procs:
        p.start()
    results = [await asyncio.to_thread(queue.get, True, seconds + 60) for _ in procs]
    for p in procs:
        await asyncio.to_thread(p.join, 10)
    latencies = [v for lat, _ in results for v in lat]
    errors = sum(e for _, e in results)
    return {"fps": len(latencies) / seconds, "p50_ms": percentile(latencies, 50) * 1e3,
            "p99_ms": percentile(latencies, 99) * 1e3, "errors": errors}


async def main(seconds: float) -> List[Dict[str, Any]]:
    rows: List[Dict[str, Any]] = []
    folder = Path(tempfile.mkdtemp(prefix="sc-bench-serve-", dir="/tmp"))
    try:
        for label, devices, model, size in configurations():
            path = folder / ("model_edgetpu.tflite" if devices.startswith("sim") else "model.tflite")
            if isinstance(model, bytes):
                path.write_bytes(model)
            else:
                shutil.copy(model, path)
            tensor = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
            print(f"{label}: engine ...", file=sys.stderr, flush=True)
            async with Engine(path, devices=devices) as engine:
                raw1 = await engine_run(engine, tensor, 1, seconds, raw=True)
                raw4 = await engine_run(engine, tensor, 4, seconds, raw=True)
                infer1 = await engine_run(engine, tensor, 1, seconds, raw=False)
            endpoint = f"ipc://{folder}/zmq"
            print(f"{label}: serve ...", file=sys.stderr, flush=True)
            async with ZmqDetectorService(path, devices, endpoint=endpoint) as service:
                serve1 = await serve_run(endpoint, size, 1, seconds)
                serve4 = await serve_run(endpoint, size, 4, seconds)
                assert service.counters.errors == 0
            rows += [
                {"config": label, "path": "engine infer_tensor", "callers": 1, **raw1},
                {"config": label, "path": "engine infer_tensor", "callers": 4, **raw4},
                {"config": label, "path": "engine infer (300x300 RGB)", "callers": 1, **infer1},
                {"config": label, "path": "serve (Frigate-like REQ over IPC)", "callers": 1, **serve1},
                {"config": label, "path": "serve (Frigate-like REQ over IPC)", "callers": 4, **serve4},
                {"config": label, "path": "overhead serve - infer_tensor (p50 ms)", "callers": 1,
                 "fps": None, "p50_ms": serve1["p50_ms"] - raw1["p50_ms"], "p99_ms": None},
            ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = asyncio.run(main(args.seconds))
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"# {os.cpu_count()} cores; sim = streamcore's simulated libedgetpu (no TPU hardware), 2.6 ms/invoke")
        print_table(rows)
