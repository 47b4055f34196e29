"""Engine throughput, per-frame framework overhead and event-loop lag, side by side in one run.

    python benchmarks/engine.py [--seconds 5] [--json]

1. MobileNet V2 (real if ../shared/data is here, else the synthetic one of the same shape):
   Engine cpu:1 and cpu:2 against plain loops over tflite_runtime's Interpreter.invoke().
2. Framework overhead with a tiny model: Engine per frame minus the bare native
   preprocess+invoke per frame, both on one CPU device.
3. asyncio loop lag (p50/p99/max) measured by a 1 ms ticker while the engine is saturated.
4. Camera formats (`--formats`, or alone with `--formats-only`): Engine.infer with a tiny model
   on 1080p PyAV frames in yuvj422p, yuvj444p and yuv420p10le against yuv420p, one request at
   a time, interleaved round by round; median ms per call. Goal: within 35% of yuv420p.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import mobilenet_path, percentile, print_table  # noqa: E402

from streamcore import Engine, models  # noqa: E402
from streamcore._native import core  # noqa: E402


def frame_224() -> NDArray[Any]:
    return np.random.default_rng(0).integers(0, 256, (432, 768, 3), dtype=np.uint8)


def plain_loop_fps(model: Path, seconds: float, num_threads: int) -> float:
    """What users write: tflite_runtime Interpreter, set_tensor / invoke / get_tensor."""
    from tflite_runtime.interpreter import Interpreter

    interp = Interpreter(model_path=str(model), num_threads=num_threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    tensor = np.zeros(inp["shape"], inp["dtype"])
    interp.set_tensor(inp["index"], tensor)
    interp.invoke()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        interp.set_tensor(inp["index"], tensor)
        interp.invoke()
        interp.get_tensor(out["index"])
        n += 1
    return n / (time.perf_counter() - start)


async def engine_fps(model: Path, devices: str, seconds: float, frame: NDArray[Any]) -> Dict[str, float]:
    async with Engine(model, devices=devices) as engine:
        for _ in range(3):
            await engine.infer(frame)
        done = 0
        stop_at = time.perf_counter() + seconds
        start = time.perf_counter()

        async def producer() -> None:
            nonlocal done
            while time.perf_counter() < stop_at:
                await engine.infer(frame)
                done += 1

        await asyncio.gather(*(producer() for _ in range(engine.capacity + 2)))
        elapsed = time.perf_counter() - start
    return {"fps": done / elapsed}


async def overhead_us(seconds: float) -> Dict[str, float]:
    """Engine cost per frame beyond the native preprocess + invoke it runs."""
    model = models.tiny_classifier((32, 32, 3), 10)
    frame = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    # Bare native work on one thread: the floor the engine cannot beat.
    from tflite_runtime.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=model, num_threads=1,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    handle = interp._native_handle()
    delegate = core.XnnpackDelegate(1)
    delegate.apply_to(handle)
    core.allocate_tensors(handle)
    tensor = np.zeros((1, 32, 32, 3), np.uint8)
    view = core.FrameView("rgb24", 64, 48, [frame])
    params = core.PreprocessParams()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        core.preprocess(view, tensor, params, 1 / 128, 128)
        core.invoke(handle)
        n += 1
    bare = (time.perf_counter() - start) / n

    async with Engine(model, devices="cpu:1") as engine:
        for _ in range(100):
            await engine.infer(frame)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            await engine.infer(frame)
            n += 1
        sequential = (time.perf_counter() - start) / n
        n, start = 0, time.perf_counter()
        stop_at = start + seconds

        async def producer() -> None:
            nonlocal n
            while time.perf_counter() < stop_at:
                await engine.infer(frame)
                n += 1

        await asyncio.gather(*(producer() for _ in range(8)))
        pipelined = (time.perf_counter() - start) / n
    return {
        "bare_native_us": bare * 1e6,
        "engine_sequential_us": sequential * 1e6,
        "engine_pipelined_us": pipelined * 1e6,
        "overhead_sequential_us": (sequential - bare) * 1e6,
        "overhead_pipelined_us": (pipelined - bare) * 1e6,
    }


async def loop_lag(model: Path, seconds: float, frame: NDArray[Any]) -> Dict[str, float]:
    lags: List[float] = []
    async with Engine(model, devices="cpu:2") as engine:
        stop_at = time.perf_counter() + seconds

        async def producer() -> None:
            while time.perf_counter() < stop_at:
                await engine.infer(frame)

        async def ticker() -> None:
            while time.perf_counter() < stop_at:
                t = time.perf_counter()
                await asyncio.sleep(0.001)
                lags.append(time.perf_counter() - t - 0.001)

        await asyncio.gather(ticker(), *(producer() for _ in range(engine.capacity + 2)))
    return {"lag_p50_ms": percentile(lags, 50) * 1e3, "lag_p99_ms": percentile(lags, 99) * 1e3,
            "lag_max_ms": max(lags) * 1e3, "ticks": float(len(lags))}


async def format_costs(seconds: float) -> List[Dict[str, Any]]:
    """Engine.infer per 1080p frame in each camera format, interleaved so load hits all alike."""
    import av

    model = models.tiny_classifier((32, 32, 3), 10)
    yy, xx = np.mgrid[0:1080, 0:1920]
    noise = np.random.default_rng(0).integers(0, 64, (1080, 1920, 3))
    rgb = (np.stack([xx % 256, yy % 256, (xx + yy) % 256], axis=-1) // 2 + noise).astype(np.uint8)
    source = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    names = ["yuv420p", "yuvj422p", "yuvj444p", "yuv420p10le"]
    frames = {name: source.reformat(format=name) for name in names}
    samples: Dict[str, List[float]] = {name: [] for name in names}
    async with Engine(model, devices="cpu:1") as engine:
        for frame in frames.values():
            for _ in range(5):
                await engine.infer(frame)
        stop_at = time.perf_counter() + seconds
        while time.perf_counter() < stop_at:
            for name, frame in frames.items():
                t = time.perf_counter()
                await engine.infer(frame)
                samples[name].append(time.perf_counter() - t)
    base = percentile(samples["yuv420p"], 50)
    return [{"format": name, "infer_ms": percentile(v, 50) * 1e3, "vs yuv420p": percentile(v, 50) / base,
             "calls": len(v)} for name, v in samples.items()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--formats", action="store_true", help="also time 1080p camera formats (section 4)")
    ap.add_argument("--formats-only", action="store_true", help="only section 4")
    args = ap.parse_args()
    if args.formats_only:
        format_rows = asyncio.run(format_costs(args.seconds))
        if args.json:
            print(json.dumps(format_rows, indent=2))
        else:
            print_table(format_rows)  # type: ignore[arg-type]
        return 0
    model = mobilenet_path()
    frame = frame_224()
    report: Dict[str, Any] = {"model": model.name}

    rows = []
    plain1 = plain_loop_fps(model, args.seconds, 1)
    plain2 = plain_loop_fps(model, args.seconds, 2)
    e1 = asyncio.run(engine_fps(model, "cpu:1", args.seconds, frame))["fps"]
    e2 = asyncio.run(engine_fps(model, "cpu:2", args.seconds, frame))["fps"]
    best_plain = max(plain1, plain2)
    for name, fps in [("plain Interpreter.invoke, 1 thread", plain1),
                      ("plain Interpreter.invoke, 2 threads", plain2),
                      ("Engine cpu:1 (frames 768x432 -> 224)", e1),
                      ("Engine cpu:2 (frames 768x432 -> 224)", e2)]:
        rows.append({"variant": name, "fps": fps, "vs best plain": fps / best_plain})
    report["throughput"] = rows
    report["cpu2_over_cpu1"] = e2 / e1
    report["overhead"] = asyncio.run(overhead_us(args.seconds))
    report["loop_lag"] = asyncio.run(loop_lag(model, args.seconds, frame))
    if args.formats:
        report["formats"] = asyncio.run(format_costs(args.seconds))

    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"model: {model}")
        print_table(rows)
        print(f"cpu:2 / cpu:1 = {report['cpu2_over_cpu1']:.2f}x")
        print("framework overhead (tiny model):", {k: round(v, 1) for k, v in report["overhead"].items()})
        print("event-loop lag while saturated:", {k: round(v, 3) for k, v in report["loop_lag"].items()})
        if args.formats:
            print("Engine.infer on 1080p camera formats (tiny model, cpu:1):")
            print_table(report["formats"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
