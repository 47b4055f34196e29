"""The CPU backends side by side: Engine overhead over each backend's bare invoke, and FPS.

    python benchmarks/backends.py [--rounds 5] [--slice 1] [--seconds 3] [--json]

Everything is measured in ONE run, in interleaved rounds: every round runs every
configuration for a short slice (the order rotates from round to round), so slow phases
of the shared machine are spread over all configurations instead of hitting one.

1. Overhead per backend (tflite, litert, openvino), one device of one thread, MobileNet V2
   and SSD MobileNet V1:
   - native invoke: ``BuiltDevice.native.invoke()`` in a tight loop (the backend's native
     device, GIL released, outputs into a scratch block; no preprocess);
   - runtime's own loop where easy: tflite_runtime's ``Interpreter.invoke()`` with
     streamcore's XNNPACK delegate applied (as benchmarks/engine.py), and OpenVINO's
     ``compile_model(.tflite, "CPU", INFERENCE_NUM_THREADS=1)`` + ``InferRequest.infer()``
     (MobileNet only: SSD needs streamcore's conversion);
   - Engine pipelined: ``capacity`` asyncio tasks keep the engine full with decoded
     av.VideoFrames (the engine also preprocesses: colour conversion + resize to the input).
   overhead = engine per frame - native invoke per frame, with the engine's mean
   ``preprocess_ms`` counted as overhead and without it.
2. FPS and CPU ms per frame of tflite:cpu:1/2, litert:cpu:1/2, openvino:CPU:1/2 on
   MobileNet V2, Engine pipelined, ``--seconds`` per configuration split over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import shared_data  # noqa: E402

from streamcore import Engine  # noqa: E402
from streamcore._native import core  # noqa: E402
from streamcore.backends import registry  # noqa: E402
from streamcore.backends.specs import DeviceRequest  # noqa: E402
from streamcore.engine.model import Model  # noqa: E402

BACKENDS = ("tflite", "litert", "openvino")
SPECS = {"tflite": "tflite:cpu", "litert": "litert:cpu", "openvino": "openvino:CPU"}
MODELS = {"mobilenet_v2": "mobilenet_v2_1.0_224_quant.tflite",
          "ssd_mobilenet_v1": "ssd_mobilenet_v1_coco_quant_postprocess.tflite"}
VIDEO = "traffic_frames.mp4"
GOAL_US = 30.0


# -- inputs ------------------------------------------------------------------------------

def decode_frames(path: Path, count: int) -> List[av.VideoFrame]:
    frames: List[av.VideoFrame] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) == count:
                break
    if not frames:
        raise SystemExit(f"{path}: no video frames")
    return frames


def request(backend: str) -> DeviceRequest:
    if backend == "openvino":
        return DeviceRequest("openvino", 1, backend="openvino", target="CPU")
    return DeviceRequest("cpu", 1, backend=backend)


# -- the loops measured ------------------------------------------------------------------

def timed_loop(call: Callable[[], Any], seconds: float) -> Dict[str, float]:
    """Calls `call` back to back for `seconds`: wall and process CPU per call."""
    n, cpu0, t0 = 0, time.process_time(), time.perf_counter()
    stop = t0 + seconds
    while time.perf_counter() < stop:
        for _ in range(4):
            call()
        n += 4
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"frame_s": wall / n, "cpu_s": cpu / n, "frames": n}


class NativeLoop:
    """The backend's native device, built without the engine: invoke() in a tight loop."""

    def __init__(self, backend: str, model_path: Path) -> None:
        b = registry.get(backend)
        placement = b.place([request(backend)], None)[0]
        self.built = b.build(Model(model_path), placement, None)
        for _ in range(10):
            self.built.native.invoke()

    def run(self, seconds: float) -> Dict[str, float]:
        return timed_loop(self.built.native.invoke, seconds)


class TfliteOwnLoop:
    """tflite_runtime's Python Interpreter with streamcore's XNNPACK delegate (its Python API
    does not delegate quantized models), input set once, Interpreter.invoke() in a loop."""

    def __init__(self, model_path: Path) -> None:
        from tflite_runtime.interpreter import Interpreter, OpResolverType

        self.interp = Interpreter(model_path=str(model_path), num_threads=1,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self.delegate = core.XnnpackDelegate(1)
        self.delegate.apply_to(self.interp._native_handle())
        core.allocate_tensors(self.interp._native_handle())
        inp = self.interp.get_input_details()[0]
        self.interp.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
        for _ in range(10):
            self.interp.invoke()

    def run(self, seconds: float) -> Dict[str, float]:
        return timed_loop(self.interp.invoke, seconds)


class OpenVinoOwnLoop:
    """OpenVINO's Python API on the .tflite file: one thread, input set once, infer() in a loop."""

    def __init__(self, model_path: Path) -> None:
        import openvino as ov

        compiled = ov.Core().compile_model(str(model_path), "CPU", {"INFERENCE_NUM_THREADS": 1})
        self.compiled = compiled
        self.req = compiled.create_infer_request()
        port = compiled.input(0)
        dtype = port.get_element_type().to_dtype()
        self.req.set_input_tensor(ov.Tensor(np.zeros(list(port.get_shape()), dtype)))
        for _ in range(10):
            self.req.infer()

    def run(self, seconds: float) -> Dict[str, float]:
        return timed_loop(self.req.infer, seconds)


async def engine_slice(engine: Engine, frames: List[av.VideoFrame], seconds: float) -> Dict[str, float]:
    """`capacity` tasks keep the engine full for `seconds`; per frame = wall / frames."""
    timings: List[Any] = []
    busy0 = sum(s["busy_s"] for s in engine.stats())
    i = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    stop = t0 + seconds

    async def worker() -> None:
        nonlocal i
        while time.perf_counter() < stop:
            frame = frames[i % len(frames)]
            i += 1
            timings.append((await engine.infer(frame)).timings)

    await asyncio.gather(*(worker() for _ in range(engine.capacity)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    busy = sum(s["busy_s"] for s in engine.stats()) - busy0
    n = len(timings)
    return {
        "frames": n, "wall_s": wall, "cpu_total_s": cpu, "busy_total_s": busy,
        "frame_s": wall / n, "cpu_s": cpu / n,
        "preprocess_s": sum(t.preprocess_ms for t in timings) / n / 1e3,
        "invoke_s": sum(t.invoke_ms for t in timings) / n / 1e3,
        "queue_s": sum(t.queue_ms for t in timings) / n / 1e3,
        "idle_s": (wall * len(engine.devices) - busy) / n,  # device time per frame not preprocess/invoke
    }


async def open_engine(model_path: Path, spec: str, frames: List[av.VideoFrame], warmup: int,
                      worker_nice: Optional[int]) -> Engine:
    options = {} if worker_nice is None else {"worker_nice": worker_nice}
    engine = Engine(model_path, devices=spec, **options)
    await engine.start()
    await asyncio.gather(*(engine.infer(frames[k % len(frames)]) for k in range(warmup)))
    return engine


# -- the run -----------------------------------------------------------------------------

Item = Tuple[str, Callable[[float], Awaitable[Dict[str, float]]]]


def as_async(fn: Callable[[float], Dict[str, float]]) -> Callable[[float], Awaitable[Dict[str, float]]]:
    async def call(seconds: float) -> Dict[str, float]:
        return fn(seconds)

    return call


async def measure(args: argparse.Namespace, models_dir: Path, frames: List[av.VideoFrame],
                  notes: List[str]) -> Dict[str, Any]:
    available: List[str] = []
    for name in args.backends:
        why = registry.get(name).unavailable()
        if why is None:
            available.append(name)
        else:
            notes.append(f"skipped {name}: {why}")
            print(f"# skipped {name}: {why}", file=sys.stderr)

    overhead_items: List[Item] = []
    fps_items: List[Item] = []
    engines: List[Engine] = []
    engine_by: Dict[Tuple[str, str, int], Engine] = {}
    keep: List[Any] = []
    try:
        for backend in available:
            for model_key in args.models:
                path = models_dir / MODELS[model_key]
                native = NativeLoop(backend, path)
                keep.append(native)
                overhead_items.append((f"invoke|{backend}|{model_key}", as_async(native.run)))
                own: Any = None
                if backend == "tflite":
                    own = TfliteOwnLoop(path)
                elif backend == "openvino" and model_key == "mobilenet_v2":
                    own = OpenVinoOwnLoop(path)
                if own is not None:
                    keep.append(own)
                    overhead_items.append((f"own|{backend}|{model_key}", as_async(own.run)))
                engine = await open_engine(path, f"{SPECS[backend]}:1", frames, args.warmup, args.worker_nice)
                engines.append(engine)
                engine_by[(backend, model_key, 1)] = engine
                overhead_items.append((f"engine|{backend}|{model_key}",
                                       lambda s, e=engine: engine_slice(e, frames, s)))
            for count in (1, 2):
                key = (backend, "mobilenet_v2", count)
                if key not in engine_by:
                    engine = await open_engine(models_dir / MODELS["mobilenet_v2"], f"{SPECS[backend]}:{count}",
                                               frames, args.warmup, args.worker_nice)
                    engines.append(engine)
                    engine_by[key] = engine
                fps_items.append((f"fps|{SPECS[backend]}:{count}",
                                  lambda s, e=engine_by[key]: engine_slice(e, frames, s)))

        # Idle engines and devices must not cost CPU while the others are measured.
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(1.0)
        idle_percent = (time.process_time() - cpu0) / (time.perf_counter() - t0) * 100
        notes.append(f"process CPU while everything is built and idle: {idle_percent:.1f}% of one core")

        samples: Dict[str, List[Dict[str, float]]] = {}
        fps_slice = args.seconds / args.rounds
        for r in range(args.rounds):
            for items, seconds in ((overhead_items, args.slice), (fps_items, fps_slice)):
                k = r % max(1, len(items))
                for label, fn in items[k:] + items[:k]:
                    samples.setdefault(label, []).append(await fn(seconds))
            print(f"# round {r + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        for engine in engines:
            await engine.close()
    return {"available": available, "samples": samples, "idle_percent": idle_percent}


def overhead_rows(available: List[str], models: List[str], samples: Dict[str, List[Dict[str, float]]]) -> List[Dict[str, Any]]:
    rows = []
    for backend in available:
        for model_key in models:
            inv = samples[f"invoke|{backend}|{model_key}"]
            eng = samples[f"engine|{backend}|{model_key}"]
            own = samples.get(f"own|{backend}|{model_key}")
            inv_ms = statistics.median(s["frame_s"] for s in inv) * 1e3
            eng_ms = statistics.median(s["frame_s"] for s in eng) * 1e3
            pre_ms = statistics.median(s["preprocess_s"] for s in eng) * 1e3
            eng_inv_ms = statistics.median(s["invoke_s"] for s in eng) * 1e3
            idle_us = statistics.median(s["idle_s"] for s in eng) * 1e6
            # Per-round spread of the native loop: what the shared machine does to one figure.
            spread_us = (max(s["frame_s"] for s in inv) - min(s["frame_s"] for s in inv)) * 1e6
            over_us = (eng_ms - inv_ms) * 1e3
            rows.append({
                "backend": backend,
                "model": model_key,
                "native invoke ms": inv_ms,
                "runtime's own loop ms": (statistics.median(s["frame_s"] for s in own) * 1e3) if own else None,
                "engine ms/frame": eng_ms,
                "engine invoke_ms": eng_inv_ms,
                "engine preprocess_ms": pre_ms,
                "overhead µs (incl. preprocess)": over_us,
                "overhead µs (excl. preprocess)": over_us - pre_ms * 1e3,
                "device idle µs/frame": idle_us,
                "native invoke spread µs": spread_us,
                "frames": sum(int(s["frames"]) for s in eng),
            })
    return rows


def fps_rows(available: List[str], samples: Dict[str, List[Dict[str, float]]]) -> List[Dict[str, Any]]:
    rows = []
    base: Optional[float] = None
    for backend in available:
        for count in (1, 2):
            s = samples[f"fps|{SPECS[backend]}:{count}"]
            frames = sum(x["frames"] for x in s)
            wall = sum(x["wall_s"] for x in s)
            cpu = sum(x["cpu_total_s"] for x in s)
            busy = sum(x["busy_total_s"] for x in s)
            per_round = [x["frames"] / x["wall_s"] for x in s]
            fps = frames / wall
            if base is None:
                base = fps
            rows.append({
                "devices": f"{SPECS[backend]}:{count}",
                "FPS": fps,
                "FPS min-max (rounds)": f"{min(per_round):.1f}-{max(per_round):.1f}",
                "CPU ms/frame": cpu / frames * 1e3,
                "process CPU %": cpu / wall * 100,
                "device busy %": busy / (wall * count) * 100,
                "vs first": fps / base,
                "frames": int(frames),
            })
    return rows


def markdown(rows: List[Dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)"
    keys = list(rows[0])

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    lines = ["| " + " | ".join(keys) + " |",
             "|" + "|".join("---" if k in ("backend", "model", "devices") else "---:" for k in keys) + "|"]
    lines += ["| " + " | ".join(fmt(r.get(k)) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--slice", type=float, default=1.0,
                    help="seconds per overhead configuration per round (default 1)")
    ap.add_argument("--seconds", type=float, default=3.0,
                    help="seconds per FPS configuration in all, split over the rounds (default 3)")
    ap.add_argument("--warmup", type=int, default=20, help="frames per engine before measuring (default 20)")
    ap.add_argument("--frames", type=int, default=30, help="frames decoded from the video (default 30)")
    ap.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS),
                    help="models of the overhead table (the FPS table is MobileNet V2)")
    ap.add_argument("--worker-nice", type=int, default=None,
                    help="Engine(worker_nice=...) for every engine (default: the engine's own, 10); "
                         "0 runs the workers at the priority of the bare loops")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if "mobilenet_v2" not in args.models:
        args.models.insert(0, "mobilenet_v2")

    data = shared_data()
    if data is None:
        raise SystemExit("needs the shared data (../shared/data or $STREAMCORE_TEST_DATA): real models and video")
    frames = decode_frames(data / "videos" / VIDEO, args.frames)
    notes = [
        f"video {VIDEO}: {len(frames)} frames {frames[0].width}x{frames[0].height} {frames[0].format.name}, "
        "decoded once, cycled",
        f"{args.rounds} interleaved rounds; overhead: {args.slice:g} s per configuration per round, medians "
        f"of the rounds; FPS: {args.seconds:g} s per configuration ({args.seconds / args.rounds:g} s per round)",
        "engine worker_nice: " + ("engine default (10)" if args.worker_nice is None else str(args.worker_nice)),
        f"cores available: {len(os.sched_getaffinity(0))}; load average at start: "
        + " ".join(f"{x:.2f}" for x in os.getloadavg()),
    ]
    t_start = time.perf_counter()
    measured = asyncio.run(measure(args, data / "models", frames, notes))
    notes.append("load average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg())
                 + f"; run took {time.perf_counter() - t_start:.0f} s")
    over = overhead_rows(measured["available"], args.models, measured["samples"])
    fps = fps_rows(measured["available"], measured["samples"])
    if args.json:
        print(json.dumps({"overhead": over, "fps": fps, "notes": notes,
                          "goal_overhead_us": GOAL_US, "samples": measured["samples"]}, indent=2))
        return 0
    print("## Engine overhead over the native invoke (1 device, 1 thread, pipelined)\n")
    print(markdown(over))
    print(f"\ngoal: overhead (excl. preprocess) under {GOAL_US:g} µs per frame, pipelined\n")
    print("## CPU backends, MobileNet V2, Engine pipelined\n")
    print(markdown(fps))
    print()
    for note in notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
