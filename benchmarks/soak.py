"""Soak: 4 looping streams, two on cpu:1 and two on two simulated Edge TPUs (sim:2), for N
minutes, sampling the process's RSS, open file descriptors and threads; a leak shows as a slope.

    python benchmarks/soak.py [--minutes 10] [--fps 15] [--interval 5] [--warmup 30] [--json]

Each stream is a sync iterable (run in its own source thread) that decodes the synthetic
640x360 H.264 clip (streamcore.bench's, made with PyAV) again and again, paced at `--fps`.
Two Pipelines run side by side in one process: a 224x224 uint8 classifier (tiny, so that the
run measures streamcore, not the kernels; or `--model PATH`) on cpu:1, and a synthetic Edge TPU
model of the same shape on sim:2, which streamcore's own libedgetpu simulator runs (no hardware). Slopes are least-squares fits over the samples after `--warmup` seconds (buffers and
thread pools fill during the first seconds); totals cover the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import av
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import print_table  # noqa: E402

from streamcore import Pipeline, models  # noqa: E402
from streamcore.tools.bench.clip import synthetic_clip  # noqa: E402

STREAMS = 4  # half on each pipeline
DEVICES = "cpu:1 + sim:2"


def looping_frames(path: Path, fps: float, stop: "list[bool]") -> Iterator[av.VideoFrame]:
    """The clip's frames forever (reopened at each end), at `fps`, until stop[0] is set."""
    period = 1.0 / fps if fps > 0 else 0.0
    due = time.monotonic()
    while not stop[0]:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                if stop[0]:
                    return
                due += period
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    due = time.monotonic()  # behind: do not burst to catch up
                yield frame


def slope(points: Sequence[Tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 with fewer than 2 distinct x)."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def sample(proc: psutil.Process, t0: float) -> Dict[str, float]:
    return {
        "t_min": (time.monotonic() - t0) / 60.0,
        "rss_mb": proc.memory_info().rss / 2**20,
        "fds": float(proc.num_fds()),
        "threads": float(proc.num_threads()),
    }


async def soak(minutes: float, fps: float, interval: float, cpu_model: Any) -> Dict[str, Any]:
    clip = synthetic_clip()
    proc = psutil.Process(os.getpid())
    stop = [False]
    samples: List[Dict[str, float]] = []
    counts = {"results": 0, "errors": 0, "ends": 0}
    t0 = time.monotonic()
    async with Pipeline(cpu_model, devices="cpu:1") as cpu, \
            Pipeline(models.edgetpu_classifier(224, 10), devices="sim:2") as tpu:
        for i in range(STREAMS):
            (cpu if i % 2 == 0 else tpu).add_source(looping_frames(clip, fps, stop), name=f"loop{i}")

        async def consume(pipeline: Pipeline) -> None:
            async for record in pipeline.results(until_idle=False):
                if record.kind == "result":
                    counts["results"] += 1
                elif record.kind == "error":
                    counts["errors"] += 1
                else:
                    counts["ends"] += 1

        consumers = [asyncio.get_running_loop().create_task(consume(p)) for p in (cpu, tpu)]
        deadline = t0 + minutes * 60.0
        while time.monotonic() < deadline and not any(c.done() for c in consumers):
            samples.append(sample(proc, t0))
            await asyncio.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))
        samples.append(sample(proc, t0))
        devices = list(cpu.engine.devices) + list(tpu.engine.devices)
        stop[0] = True
        for consumer in consumers:
            consumer.cancel()
        for consumer in consumers:
            try:
                await consumer
            except asyncio.CancelledError:
                pass
    elapsed = time.monotonic() - t0
    after_close = sample(proc, t0)
    return {"samples": samples, "counts": counts, "elapsed_s": elapsed, "after_close": after_close,
            "devices": devices}


def report(run: Dict[str, Any], warmup_s: float, minutes: float, fps: float) -> Dict[str, Any]:
    samples = run["samples"]
    fit = [s for s in samples if s["t_min"] * 60.0 >= warmup_s] or samples
    first, last = samples[0], samples[-1]
    metrics = {}
    for key, unit in (("rss_mb", "MB"), ("fds", "fds"), ("threads", "threads")):
        metrics[key] = {
            "start": round(first[key], 2),
            "end": round(last[key], 2),
            "max": round(max(s[key] for s in samples), 2),
            "after_close": round(run["after_close"][key], 2),
            "slope_per_min": round(slope([(s["t_min"], s[key]) for s in fit]), 4),
            "unit": unit,
        }
    return {
        "minutes": minutes,
        "streams": STREAMS,
        "devices": run["devices"],
        "fps_per_stream": fps,
        "elapsed_s": round(run["elapsed_s"], 1),
        "results": run["counts"]["results"],
        "errors": run["counts"]["errors"],
        "ends": run["counts"]["ends"],
        "results_per_s": round(run["counts"]["results"] / max(run["elapsed_s"], 1e-9), 1),
        "samples": len(samples),
        "fit_samples": len(fit),
        "warmup_s": warmup_s,
        "metrics": metrics,
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=15.0, help="frames per second per stream (0: unpaced)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds left out of the slopes")
    parser.add_argument("--model", type=Path, help="a .tflite model (default: a tiny 224x224 classifier)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    model: Any = args.model if args.model else models.tiny_classifier((224, 224, 3), 10)
    run = asyncio.run(soak(args.minutes, args.fps, args.interval, model))
    out = report(run, args.warmup, args.minutes, args.fps)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"soak: {STREAMS} looping streams on {DEVICES} ({', '.join(out['devices'])}; sim = simulated Edge TPUs), "
          f"{out['elapsed_s']} s, {out['results']} results ({out['results_per_s']}/s), "
          f"{out['errors']} errors, {out['ends']} stream ends; slopes fitted after {args.warmup:g} s "
          f"over {out['fit_samples']} of {out['samples']} samples")
    rows = [
        {"metric": key, "start": m["start"], "end": m["end"], "max": m["max"], "after close": m["after_close"],
         "slope / min": f"{m['slope_per_min']:+.3f} {m['unit']}/min"}
        for key, m in out["metrics"].items()
    ]
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
