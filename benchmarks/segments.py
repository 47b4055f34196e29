"""Pipelined segments on simulated Edge TPUs (labelled as such: no TPU hardware here).

    python benchmarks/segments.py [--seconds 5] [--latency 4] [--queue-depth 2] [--worker-nice 0] [--json]

Each segment is a synthetic Edge TPU-shaped model (streamcore.models.edgetpu_segments) whose
invoke takes its own latency on the simulated libedgetpu (a sleep, so the host stays idle as
with a TPU); the segments pass SSD MobileNet V2-sized tensors (the shared model's cut: 19x19x576,
10x10x256, 10x10x1280 bytes) natively from one to the next. Frames are pre-decoded 640x360
yuv420p, resized to 224x224 by the native preprocess. Measured side by side in one run:

- the whole model (latency 2L) on one TPU;
- two balanced segments (L, L) on two TPUs: FPS against the ideal 1000 / L and against one TPU;
- unbalanced segments (1.5L, 0.5L) on two TPUs, and on three TPUs where the plan replicates the
  slow segment: FPS against each ideal (1000 / the slowest per-device stage time).

The engine is kept full by enough concurrent infer() calls; FPS is frames completed / wall time.
`of_ideal` is FPS against 1000 / the nominal slowest per-device stage time; `of_measured` against
1000 / the slowest stage's invoke time as the engine measured it when it started (engine.plan():
the simulator's sleep overshoots a little on a loaded machine). Workers run at the caller's
priority (worker_nice=0, every configuration alike) so that other jobs on a shared machine do not
starve them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import print_table  # noqa: E402

from streamcore import Engine, Segments  # noqa: E402
from streamcore.models import edgetpu_segments  # noqa: E402

FEATURES = (19 * 19 * 576, 10 * 10 * 256, 10 * 10 * 1280)


def decoded_frames(count: int) -> List[av.VideoFrame]:
    rng = np.random.default_rng(0)
    return [
        av.VideoFrame.from_ndarray(rng.integers(0, 256, (360, 640, 3), dtype=np.uint8), format="rgb24").reformat(
            format="yuv420p")
        for _ in range(count)
    ]


async def measure(model: Any, spec: str, seconds: float, frames: Sequence[av.VideoFrame],
                  queue_depth: int, worker_nice: int) -> Dict[str, Any]:
    async with Engine(model, devices=spec, queue_depth=queue_depth, worker_nice=worker_nice) as engine:
        for f in frames[:8]:
            await engine.infer(f)
        done = 0
        stop_at = time.perf_counter() + seconds
        t0 = time.perf_counter()

        async def worker(offset: int) -> None:
            nonlocal done
            i = offset
            while time.perf_counter() < stop_at:
                await engine.infer(frames[i % len(frames)])
                i += 1
                done += 1

        await asyncio.gather(*(worker(k) for k in range(engine.capacity + 2)))
        wall = time.perf_counter() - t0
        plan = engine.plan()
        busy = {s["name"]: round(s["busy_s"] / wall, 3) for s in engine.stats()}
    return {"fps": done / wall, "frames": done, "plan": plan, "busy": busy}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--latency", type=float, default=4.0, help="L: ms per balanced segment")
    ap.add_argument("--queue-depth", type=int, default=2)
    ap.add_argument("--worker-nice", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    L = args.latency
    frames = decoded_frames(32)
    whole, balanced = edgetpu_segments((L, L), feature_sizes=FEATURES)
    _, unbalanced = edgetpu_segments((1.5 * L, 0.5 * L), feature_sizes=FEATURES)
    configs = [
        ("whole model (2L)", whole, "sim:1", 1000 / (2 * L)),
        ("2 balanced segments (L, L)", Segments(balanced), "sim:2", 1000 / L),
        ("unbalanced (1.5L, 0.5L), no replica", Segments(unbalanced), "sim:2", 1000 / (1.5 * L)),
        ("unbalanced (1.5L, 0.5L), slow one replicated", Segments(unbalanced), "sim:3", 1000 / (0.75 * L)),
    ]
    rows: List[Dict[str, Any]] = []
    details = []
    for label, model, spec, ideal in configs:
        r = asyncio.run(measure(model, spec, args.seconds, frames, args.queue_depth, args.worker_nice))
        slowest_ms = max((p["frame_ms"] for p in r["plan"]), default=None)
        rows.append({"configuration": label, "devices": f"{spec} (simulated)", "fps": r["fps"], "ideal_fps": ideal,
                     "of_ideal": r["fps"] / ideal,
                     "of_measured": r["fps"] * slowest_ms / 1000 if slowest_ms else None, "vs": None})
        details.append({"configuration": label, **r})
    # The goals: balanced on 2 TPUs vs the whole model on one; replicated on 3 vs plain on 2.
    rows[1]["vs"] = f"{rows[1]['fps'] / rows[0]['fps']:.2f}x whole model on 1 TPU"
    rows[3]["vs"] = f"{rows[3]['fps'] / rows[2]['fps']:.2f}x the 2-TPU pipeline"

    if args.json:
        print(json.dumps({"latency_ms": L, "simulated": True, "rows": rows, "details": details}, indent=2))
    else:
        print(f"simulated Edge TPUs (no hardware); L = {L} ms; frames 640x360 yuv420p -> 224x224; "
              f"queue_depth {args.queue_depth}; worker_nice {args.worker_nice}; {args.seconds} s per configuration")
        print_table(rows)
        for d in details:
            if d["plan"]:
                print(d["configuration"], "plan:", [(p["segment"], p["devices"], p["invoke_ms"]) for p in d["plan"]],
                      "busy:", d["busy"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
