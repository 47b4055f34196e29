"""Edge TPU scaling on the simulated libedgetpu (labelled as such: no TPU hardware here).

    python benchmarks/edgetpu.py [--seconds 3] [--latency 2.6] [--json]

For sim:1, sim:2, sim:4 and sim:8 at the given per-invoke latency (Coral's 2.6 ms for
MobileNet V2 by default), with pre-decoded 768x432 yuv420p frames fed to a 224x224 model:
- throughput on one stream (that stream keeps the engine full) and on four streams,
  against the ideal N x 1000/latency FPS;
- host CPU-seconds per frame (process CPU time over all threads / frames), which says
  where the host becomes the limit: 1 / (CPU-s per frame x cores) FPS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import print_table, shared_data  # noqa: E402

from streamcore import Engine  # noqa: E402


def model_path() -> Any:
    data = shared_data()
    if data is not None:
        return data / "models" / "mobilenet_v2_1.0_224_quant_edgetpu.tflite"
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from tests.edgetpu_model import edgetpu_model

    return edgetpu_model(height=224, width=224, output_sizes=(1001,))


def decoded_frames(count: int) -> List[av.VideoFrame]:
    """768x432 yuv420p frames: the shared clip if present, else synthetic ones."""
    data = shared_data()
    frames: List[av.VideoFrame] = []
    if data is not None:
        with av.open(str(data / "videos" / "one-by-one-person-detection.mp4")) as c:
            for frame in c.decode(video=0):
                frames.append(frame)
                if len(frames) == count:
                    break
        return frames
    rng = np.random.default_rng(0)
    for _ in range(count):
        rgb = rng.integers(0, 256, (432, 768, 3), dtype=np.uint8)
        frames.append(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p"))
    return frames


async def run(spec: str, streams: int, seconds: float, frames: List[av.VideoFrame], model: Any) -> Dict[str, Any]:
    async with Engine(model, devices=spec) as engine:
        for f in frames[:4]:
            await engine.infer(f)
        window = max(1, engine.capacity // streams + 1)
        done = 0
        stop_at = time.perf_counter() + seconds
        cpu0, t0 = time.process_time(), time.perf_counter()

        async def stream(offset: int) -> None:
            nonlocal done
            i = offset

            async def worker() -> None:
                nonlocal done, i
                while time.perf_counter() < stop_at:
                    frame = frames[i % len(frames)]
                    i += 1
                    await engine.infer(frame)
                    done += 1

            await asyncio.gather(*(worker() for _ in range(window)))

        await asyncio.gather(*(stream(k * 7) for k in range(streams)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        busy = [s["busy_s"] for s in engine.stats()]
    return {"fps": done / wall, "cpu_us_per_frame": cpu / done * 1e6, "frames": done,
            "device_busy": float(np.mean(busy)) / wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--latency", type=float, default=2.6)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    model, frames = model_path(), decoded_frames(64)
    ideal_one = 1000.0 / args.latency
    rows: List[Dict[str, Any]] = []
    for n in (1, 2, 4, 8):
        for streams in (1, 4):
            r = asyncio.run(run(f"sim:{n}@{args.latency}ms", streams, args.seconds, frames, model))
            host_limit = 1e6 / r["cpu_us_per_frame"] * (os.cpu_count() or 1)
            rows.append({"devices": f"sim:{n} (simulated)", "streams": streams, "fps": r["fps"],
                         "ideal": n * ideal_one, "of_ideal": r["fps"] / (n * ideal_one),
                         "cpu_us/frame": r["cpu_us_per_frame"], "host_limit_fps": host_limit,
                         "device_busy": r["device_busy"]})
    if args.json:
        print(json.dumps({"latency_ms": args.latency, "simulated": True, "rows": rows}, indent=2))
    else:
        print(f"simulated Edge TPUs at {args.latency} ms per invoke; frames 768x432 yuv420p -> 224x224")
        print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
