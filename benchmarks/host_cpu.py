"""streamcore's own host CPU per frame on simulated Edge TPUs, decode and the preprocess kernel
left out: what limits how many TPUs one host can feed.

    python benchmarks/host_cpu.py [--streams 4] [--frames 600] [--rounds 3] [--json]
    python benchmarks/host_cpu.py --trees /path/to/before /path/to/after   # side by side
    python benchmarks/host_cpu.py --coalesce 0,8   # completions per frame vs in batches (coalesce_ms)

Each stream is a sync iterable over 8 pre-decoded 1080p yuv420p av.VideoFrames, cycled, so no
decode runs: every CPU second the source threads spend is streamcore's (the SourceFrame, the
sink, the submit). Devices are sim:4 [SIMULATED Edge TPUs] at their configured latency
(STREAMCORE_SIM_LATENCY_MS, 2.6 ms by default): 4 x 385 FPS of device capacity, so the host
is the limit.

Per-thread CPU clocks (/proc/self/task) are summed by role: the event loop, the source
threads, the engine's worker threads and the notifier. From the workers' time two things
are taken out and shown apart: the preprocess kernel (the jobs' preprocess_ms) and the
device's invoke call (TFLite's dispatch plus the simulator's own work, summing the input:
on hardware the USB transfer replaces it), measured by invoking a device directly on its
thread clock. What is left is streamcore's own work per frame:

    own = loop + sources + notifier + other

(this script's own CPU sampler thread is shown apart, `sampler_us`, and not counted)

The worker threads' time less the kernel and the invoke call measured alone comes out within
noise of zero (either sign: cache misses differ under load), so it is shown apart
(`workers_own_us`, and `own_with_workers_us`) rather than added to `own_us`.

With --trees the same measurement runs in each tree's checkout, rounds interleaved, so two
versions are compared side by side in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import CpuSampler, print_table, shared_data  # noqa: E402


def frames_1080p(count: int = 8) -> List[Any]:
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        rgb = rng.integers(0, 256, (1080 // 8, 1920 // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
        out.append(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p"))
    return out


def cycle(frames: List[Any], n: int) -> Iterator[Any]:
    for i in range(n):
        yield frames[i % len(frames)]


def paced(frames: List[Any], n: int, fps: float) -> Iterator[Any]:
    """As a camera sends them: `fps` frames a second (the source thread sleeps between them)."""
    start = time.monotonic()
    for i in range(n):
        delay = start + i / fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield frames[i % len(frames)]


def model_path() -> Path:
    from streamcore import models

    data = shared_data()
    if data is not None:
        return data / "models" / "mobilenet_v2_1.0_224_quant_edgetpu.tflite"
    sys.path.insert(0, str(HERE.parent))
    from tests.edgetpu_model import edgetpu_model

    return models.write(edgetpu_model(224, 224, (1001,)), models.cache_dir() / "bench-sim-mobilenet_edgetpu.tflite")


def kernel_ms(runs: int = 300) -> float:
    """CPU ms of the preprocess kernel alone: one 1080p yuv420p frame into a 224x224x3 uint8 input."""
    import numpy as np

    from streamcore._native import core
    from streamcore.engine.frames import to_frame_view

    frames = frames_1080p()  # as many as the streams cycle through: the same cache misses
    out = np.empty((224, 224, 3), np.uint8)
    params = core.PreprocessParams()
    for i in range(10):
        core.preprocess(to_frame_view(frames[i % len(frames)]), out, params, 1.0, 0)
    start = time.thread_time()
    for i in range(runs):
        core.preprocess(to_frame_view(frames[i % len(frames)]), out, params, 1.0, 0)
    return (time.thread_time() - start) / runs * 1000.0


def invoke_call_ms(model: Path, runs: int = 300) -> float:
    """CPU ms of one invoke call on a simulated device (TFLite dispatch + the simulator's input
    sum and output write), on this thread's clock: the sleep is not CPU."""
    from streamcore import Engine

    async def measure() -> float:
        async with Engine(model, devices="sim:1") as engine:
            device = engine._runner(None).devices[0]
            assert device is not None
            for _ in range(10):
                device.native.invoke()
            start = time.thread_time()
            for _ in range(runs):
                device.native.invoke()
            return (time.thread_time() - start) / runs * 1000.0

    return asyncio.run(measure())


async def one_run(model: Path, streams: int, frames: int, loop_kind: str,
                  live_fps: Optional[float] = None, coalesce_ms: Optional[float] = None) -> Dict[str, Any]:
    from streamcore import Pipeline

    pictures = frames_1080p()
    loop_tid = threading.get_native_id()
    options = {} if coalesce_ms is None else {"coalesce_ms": coalesce_ms}
    async with Pipeline(model=model, devices="sim:4", **options) as p:
        import numpy as np

        await asyncio.gather(*(p.engine.infer(np.zeros((1080, 1920, 3), np.uint8)) for _ in range(p.engine.capacity)))
        sampler = CpuSampler()
        sources = [p.add_source(cycle(pictures, frames) if live_fps is None else paced(pictures, frames, live_fps),
                                name=f"cam{i}", live=live_fps is not None) for i in range(streams)]
        sampler.start(lambda: {s._thread.native_id: "sources" for s in sources
                               if s._thread is not None and s._thread.native_id is not None})
        pre_ms, n, latency = 0.0, 0, []
        start = time.perf_counter()
        async for r in p.results():
            if r.ok and r.result is not None:
                n += 1
                pre_ms += r.result.timings.preprocess_ms
                if r.latency_ms is not None:
                    latency.append(r.latency_ms)
        elapsed = time.perf_counter() - start
        sampler.stop()
        stats = p.stats()

    def role(tid: int, comm: str) -> str:
        if tid == loop_tid:
            return "loop"
        if comm.startswith("sc-notify"):
            return "notifier"
        if comm.startswith("sc-"):
            return "prep" if comm.endswith("-prep") else "invoke"
        return "other"

    roles = sampler.by_role(role)
    return {"loop": loop_kind, "fps": n / elapsed, "frames": n, "pre_ms": pre_ms,
            "dropped": sum(s.dropped for s in sources),
            "cpu_s": roles, "loop_lag_p99_ms": stats["loop_lag"]["p99_ms"],
            "latency_p50_ms": statistics.median(latency) if latency else None,
            "frames_per_drain": (stats.get("completions") or {}).get("frames_per_drain")}


def per_frame(run: Dict[str, Any], kernel: float, invoke_ms: float) -> Dict[str, float]:
    n = run["frames"]
    cpu = run["cpu_s"]
    us = {k: cpu.get(k, 0.0) / n * 1e6 for k in ("loop", "sources", "notifier", "prep", "invoke", "other", "sampler")}
    kernel_us = kernel * 1000.0
    call_us = invoke_ms * 1000.0
    # The worker threads less the kernel and the invoke call, measured alone: an estimate
    # (cache misses differ under load); the other threads' time is measured directly.
    workers_own = us["prep"] + us["invoke"] - kernel_us - call_us
    python_side = us["loop"] + us["sources"] + us["notifier"] + us["other"]
    return {"fps": run["fps"], "own_us": python_side, "own_with_workers_us": python_side + workers_own, "loop_us": us["loop"], "sources_us": us["sources"],
            "notifier_us": us["notifier"], "other_us": us["other"], "sampler_us": us["sampler"],
            "prep_thread_us": us["prep"],
            "invoke_thread_us": us["invoke"], "workers_own_us": workers_own, "kernel_alone_us": kernel_us,
            "invoke_call_alone_us": call_us, "loop_lag_p99_ms": run["loop_lag_p99_ms"],
            "latency_p50_ms": run["latency_p50_ms"], "frames_per_drain": run["frames_per_drain"],
            "dropped": float(run["dropped"])}


def measure(streams: int, frames: int, rounds: int, loops: List[str],
            live_fps: Optional[float] = None, coalesce: Optional[List[float]] = None) -> Dict[str, Any]:
    model = model_path()
    invoke_ms = invoke_call_ms(model)
    kernel = kernel_ms()
    rows = []
    for k in range(rounds):
        for kind in loops:
            for ms in coalesce or [None]:
                if kind == "uvloop":
                    import uvloop

                    run = uvloop.run(one_run(model, streams, frames, kind, live_fps, ms))
                else:
                    run = asyncio.run(one_run(model, streams, frames, kind, live_fps, ms))
                label = kind if ms is None else f"{kind}/coalesce={ms:g}ms"
                rows.append(per_frame(run, kernel, invoke_ms) | {"round": k, "loop_kind": label})
    import streamcore

    return {"invoke_call_ms": invoke_ms, "kernel_ms": kernel, "rows": rows,
            "streamcore": str(Path(streamcore.__file__).resolve().parent)}


def median_by(rows: List[Dict[str, Any]], key: str) -> List[Dict[str, Any]]:
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(str(r[key]), []).append(r)
    out = []
    for name, group in groups.items():
        med: Dict[str, Any] = {key: name}
        for field in group[0]:
            if isinstance(group[0][field], float):
                med[field] = round(statistics.median(float(g[field]) for g in group), 3)
        out.append(med)
    return out



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--frames", type=int, default=600, help="frames per stream (default 600)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--loops", default="uvloop,asyncio", help="event loops to run (default uvloop,asyncio)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--trees", nargs="+", help="checkouts to compare, each run in its own process, interleaved")
    ap.add_argument("--coalesce", metavar="MS[,MS...]",
                    help="Pipeline(coalesce_ms=...) values to run side by side in each round (default: the engine's)")
    ap.add_argument("--live", type=float, metavar="FPS",
                    help="live streams instead: each a camera-like source paced at FPS frames/s (dropping when late)")
    args = ap.parse_args()
    if args.live is not None and not args.live > 0:
        ap.error("--live takes the frames per second of each stream, above 0")
    if args.coalesce is not None:
        try:
            if any(not 0 <= float(v) <= 1000 for v in args.coalesce.split(",")):
                raise ValueError
        except ValueError:
            ap.error("--coalesce takes milliseconds from 0 to 1000, separated by commas (e.g. 0,8)")
        if args.trees:
            ap.error("--coalesce compares settings within one tree; leave out --trees")

    if args.trees:
        rows: List[Dict[str, Any]] = []
        for k in range(args.rounds):
            for tree in args.trees:
                # This script, run against each tree's streamcore: older checkouts' copies may
                # lack options (--live).
                out = subprocess.run(
                    [sys.executable, str(Path(__file__)), "--streams", str(args.streams), "--frames", str(args.frames),
                     "--rounds", "1", "--loops", args.loops, "--json"]
                    + ([] if args.live is None else ["--live", str(args.live)]),
                    cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True, check=True)
                result = json.loads(out.stdout)
                if not result["streamcore"].startswith(str(Path(tree).resolve())):
                    raise SystemExit(f"{tree}: the run imported {result['streamcore']}, not the tree's streamcore")
                for r in result["rows"]:
                    rows.append(r | {"tree": Path(tree).name, "round": k})
                print(f"  round {k}: {tree} done", file=sys.stderr, flush=True)
        summary = median_by([r | {"tree_loop": f"{r['tree']}/{r['loop_kind']}"} for r in rows], "tree_loop")
        if args.json:
            print(json.dumps({"rows": rows, "median": summary}, indent=1))
        else:
            what = "pre-decoded" if args.live is None else f"pre-decoded, live, paced at {args.live:g} fps each,"
            print(f"{args.streams} x 1080p {what} on sim:4 [SIMULATED Edge TPUs]; us of host CPU per frame; "
                  f"median of {args.rounds} interleaved rounds")
            print_table(summary)
        return 0

    coalesce = None if args.coalesce is None else [float(v) for v in args.coalesce.split(",")]
    result = measure(args.streams, args.frames, args.rounds, args.loops.split(","), args.live, coalesce)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{args.streams} x 1080p pre-decoded on sim:4 [SIMULATED Edge TPUs]; us of host CPU per frame; "
          f"invoke call (TFLite + simulator) {result['invoke_call_ms'] * 1000:.1f} us")
    print_table([{k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()} for r in result["rows"]])
    print_table(median_by(result["rows"], "loop_kind"))
    if coalesce is not None and len(coalesce) > 1:
        print(f"own_us against coalesce={coalesce[0]:g}ms, paired within each round (median of the rounds):")
        for kind in args.loops.split(","):
            base = {r["round"]: r["own_us"] for r in result["rows"] if r["loop_kind"] == f"{kind}/coalesce={coalesce[0]:g}ms"}
            for ms in coalesce[1:]:
                ratios = [r["own_us"] / base[r["round"]] for r in result["rows"]
                          if r["loop_kind"] == f"{kind}/coalesce={ms:g}ms" and base.get(r["round"])]
                print(f"  {kind} coalesce={ms:g}ms: {statistics.median(ratios):.3f}  (rounds: "
                      f"{', '.join(f'{x:.2f}' for x in ratios)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
