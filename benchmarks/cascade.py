"""Cascade cost on the CPU: the detector alone against detector + classifier on each car,
side by side in one run, giving the second stage's cost per object.

    python benchmarks/cascade.py [--seconds 4] [--rounds 3] [--devices cpu:1] [--classifier-devices cpu:1] [--json]

Models (../shared/data or $STREAMCORE_TEST_DATA): SSD MobileNet V1 COCO (detector, Detect(0.5))
and MobileNet V1 0.25 128 (classifier, Classify(top_k=1)) on traffic_frames.mp4 (960x540, 20
frames, decoded once with PyAV and replayed as av.VideoFrames), when=car, max_per_frame=8,
margin=0.1.

Configurations, each measured `--rounds` times in turn (median FPS kept):
- `detector`: Engine(ssd) alone.
- `cascade`: Engine(Cascade(...)): crops through the native ROI path of one borrowed frame.
- `cascade, copied crops`: what users write without a cascade: the detector engine, then each
  car's crop taken with `frame.to_ndarray()` and a numpy copy, sent to a classifier engine
  (all of a frame's crops at once too).
Three modes: `latency` (one frame at a time: wall time per frame), `throughput` (the engine
kept full by `capacity + 2` producers) and `pipeline` (a `Pipeline` over the same engine fed
by an iterable source cycling the frames for the window; detector and cascade only).

Per-object cost: `ms/object` = (1 / cascade FPS - 1 / detector FPS) / cars per frame, i.e.
the frame time the second stage adds per classified object, from the two side-by-side
figures; `stage2 ms/object` = wall time from the detections to the last crop's result
(`CascadeInfo.second_stage_ms`, timed the same way for copied crops, the copy included) per
object; and the classifier's mean device invoke time per object (`engine.cascade_stats()`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Tuple

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import print_table, shared_data  # noqa: E402

from streamcore import Cascade, Classify, Deploy, Detect, Engine, Object, Pipeline, read_labels  # noqa: E402
from streamcore.engine.cascade import crop_roi  # noqa: E402
from streamcore.jsonsafe import dumps  # noqa: E402

Infer = Callable[[Any], Awaitable[Tuple[int, float]]]  # one frame -> (objects classified, stage-2 ms)


async def measure(infer: Infer, frames: List[Any], seconds: float, concurrency: int) -> Dict[str, float]:
    for f in frames[:3]:
        await infer(f)
    done = objects = 0
    stage2_ms = 0.0
    start = time.perf_counter()
    stop_at = start + seconds
    index = 0

    async def producer() -> None:
        nonlocal done, objects, index, stage2_ms
        while time.perf_counter() < stop_at:
            frame = frames[index % len(frames)]
            index += 1
            classified, ms = await infer(frame)  # awaited first: `objects += await ...` would lose updates
            objects += classified
            stage2_ms += ms
            done += 1

    await asyncio.gather(*(producer() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {"fps": done / elapsed, "objects_per_frame": objects / max(1, done),
            "stage2_ms_per_object": stage2_ms / objects if objects else 0.0}


async def pipeline_measure(engine: Engine, frames: List[Any], seconds: float) -> Dict[str, float]:
    def source() -> Any:
        stop_at = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < stop_at:
            yield frames[i % len(frames)]
            i += 1

    done = objects = 0
    stage2_ms = 0.0
    start = time.perf_counter()
    async with Pipeline(engine=engine, monitor_loop=False) as p:
        p.add_source(source(), name="traffic")
        async for r in p.results():
            if r.kind != "result" or r.result is None:
                continue
            done += 1
            if r.result.cascade is not None:
                objects += r.result.cascade.classified
                stage2_ms += r.result.cascade.second_stage_ms
    elapsed = time.perf_counter() - start
    return {"fps": done / elapsed, "objects_per_frame": objects / max(1, done),
            "stage2_ms_per_object": stage2_ms / objects if objects else 0.0}


def is_car(o: Object) -> bool:
    return o.label == "car"


async def run(args: argparse.Namespace) -> Dict[str, Any]:
    data = shared_data()
    if data is None:
        raise SystemExit("shared test data not found (../shared/data or $STREAMCORE_TEST_DATA)")
    m = data / "models"
    ssd, mnv1 = m / "ssd_mobilenet_v1_coco_quant_postprocess.tflite", m / "mobilenet_v1_0.25_128_quant.tflite"
    coco, imagenet = read_labels(m / "coco_labels.txt"), read_labels(m / "imagenet_labels.txt")
    with av.open(str(data / "videos" / "traffic_frames.mp4")) as c:
        frames = list(c.decode(video=0))

    detector = Engine(ssd, args.devices, adapter=Detect(0.5, labels=coco), name="detector")
    cascade = Engine(Cascade(detector=Deploy(ssd, args.devices, Detect(0.5, labels=coco)),
                             classifier=Deploy(mnv1, args.classifier_devices, Classify(top_k=1, labels=imagenet)),
                             when=is_car, max_per_frame=8, margin=0.1), name="cascade")
    classifier = Engine(mnv1, args.classifier_devices, adapter=Classify(top_k=1, labels=imagenet), name="classifier")

    async def detect_only(frame: Any) -> Tuple[int, float]:
        await detector.infer(frame)
        return 0, 0.0

    async def cascaded(frame: Any) -> Tuple[int, float]:
        r = await cascade.infer(frame)
        assert r.cascade is not None and r.cascade.errors == 0
        return r.cascade.classified, r.cascade.second_stage_ms

    async def copied_crops(frame: Any) -> Tuple[int, float]:
        r = await detector.infer(frame)
        started = time.perf_counter()
        cars = [o for o in r.value if is_car(o)][:8]
        if not cars:
            return 0, 0.0
        rgb = frame.to_ndarray(format="rgb24")
        crops = []
        for o in cars:
            roi = crop_roi(o.bbox, 0.1, frame.width, frame.height)
            if roi is not None:
                x, y, w, h = roi
                crops.append(np.ascontiguousarray(rgb[y:y + h, x:x + w]))
        await asyncio.gather(*(classifier.infer(c) for c in crops))
        return len(crops), (time.perf_counter() - started) * 1000.0

    configs: Dict[str, Infer] = {"detector": detect_only, "cascade": cascaded, "cascade, copied crops": copied_crops}
    samples: Dict[str, Dict[str, List[Dict[str, float]]]] = {}
    async with detector, cascade, classifier:
        capacity = {"detector": detector.capacity, "cascade": cascade.capacity,
                    "cascade, copied crops": detector.capacity + classifier.capacity}
        for _ in range(args.rounds):
            for mode in ("latency", "throughput"):
                for name, infer in configs.items():
                    concurrency = 1 if mode == "latency" else capacity[name] + 2
                    got = await measure(infer, frames, args.seconds, concurrency)
                    samples.setdefault(mode, {}).setdefault(name, []).append(got)
                    print(f"  {mode:10s} {name:22s} {got['fps']:7.2f} fps", file=sys.stderr, flush=True)
            for name, engine in (("detector", detector), ("cascade", cascade)):
                got = await pipeline_measure(engine, frames, args.seconds)
                samples.setdefault("pipeline", {}).setdefault(name, []).append(got)
                print(f"  {'pipeline':10s} {name:22s} {got['fps']:7.2f} fps", file=sys.stderr, flush=True)
        stats = cascade.cascade_stats()
    rows = []
    for mode, by_name in samples.items():
        base = statistics.median(s["fps"] for s in by_name["detector"])
        for name, runs in by_name.items():
            fps = statistics.median(s["fps"] for s in runs)
            per_frame = statistics.mean(s["objects_per_frame"] for s in runs)
            row: Dict[str, Any] = {
                "mode": mode, "config": name, "fps": round(fps, 2), "vs detector": round(fps / base, 3),
                "ms/frame": round(1000.0 / fps, 2), "objects/frame": round(per_frame, 2),
                "ms/object": None, "stage2 ms/object": None,
            }
            if per_frame > 0:
                row["ms/object"] = round((1000.0 / fps - 1000.0 / base) / per_frame, 3)
                row["stage2 ms/object"] = round(statistics.median(s["stage2_ms_per_object"] for s in runs), 3)
            rows.append(row)
    return {
        "rows": rows,
        "cascade_stats": stats,
        "config": {"devices": args.devices, "classifier_devices": args.classifier_devices, "seconds": args.seconds,
                   "rounds": args.rounds, "video": "traffic_frames.mp4", "frames": len(frames)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--devices", default="cpu:1", help="the detector's devices")
    parser.add_argument("--classifier-devices", default="cpu:1")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    if args.json:
        print(dumps(report))
        return
    print_table(report["rows"])
    print(f"cascade engine totals: {json.dumps(report['cascade_stats'])}")


if __name__ == "__main__":
    main()
