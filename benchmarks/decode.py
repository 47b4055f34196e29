"""Decode CPU per kept frame under an fps cap, with and without decoder frame skipping.

A 30 fps H.264 clip with B-frames (always 3 between references, none used as references, a keyframe
every 30 frames) is made with PyAV, then read by streamcore's PyAV source at fps=5 with
skip_frames="none" (decode everything, keep 1 in 6), "auto" (non-reference frames are not
decoded) and "keyframes"; the sink drops the frames, so the CPU time (process_time: every
thread) is the demux + decode cost. The modes alternate round by round, median of the rounds.

    python benchmarks/decode.py [--size 1920x1080] [--seconds 10] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Dict, List, Optional

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamcore.errors import StreamcoreError  # noqa: E402
from streamcore.sources import open_source  # noqa: E402
from streamcore.sources.base import SourceFrame  # noqa: E402


def make_clip(path: Path, width: int, height: int, frames: int) -> None:
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 255, ((height + 64) // 8 + 1, (width + 64) // 8 + 1, 3), dtype=np.uint8)
    base = coarse.repeat(8, 0).repeat(8, 1)  # camera-like detail, not incompressible noise
    with av.open(str(path), "w") as out:
        stream: Any = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "x264-params": "bframes=3:b-adapt=0:b-pyramid=0:keyint=30:min-keyint=30:scenecut=0"}
        for i in range(frames):
            x, y = (i * 2) % 64, (i * 3) % 64  # panning texture: real motion to code
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[y : y + height, x : x + width]), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


class CountingSink:
    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.kept = 0
        self.sampled_out = 0

    def frame(self, item: SourceFrame) -> bool:
        self.kept += 1
        return True

    def sampled(self) -> None:
        self.sampled_out += 1

    def error(self, error: StreamcoreError) -> None: ...
    def state(self, state: str) -> None: ...
    def reconnecting(self) -> None: ...
    def end(self, error: Optional[StreamcoreError]) -> None: ...


def measure(clip: Path, mode: str, fps: float) -> Dict[str, float]:
    source: Any = open_source(str(clip), fps=fps, skip_frames=mode)
    sink = CountingSink()
    cpu, wall = time.process_time(), time.perf_counter()
    source.run(sink)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"kept": sink.kept, "skipped_by_decoder": source.decode_skipped, "cpu_s": cpu, "wall_s": wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--seconds", type=float, default=10.0, help="clip length at 30 fps")
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    modes = ["none", "auto", "keyframes"]
    runs: Dict[str, List[Dict[str, float]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "bframes.mp4"
        make_clip(clip, width, height, int(args.seconds * 30))
        for _ in range(args.rounds):
            for mode in modes:
                runs[mode].append(measure(clip, mode, args.fps))
    rows = []
    base: Optional[float] = None
    for mode in modes:
        kept = runs[mode][0]["kept"]
        cpu = statistics.median(r["cpu_s"] for r in runs[mode])
        per_kept = cpu / kept * 1e3
        base = base or per_kept
        rows.append({"skip_frames": mode, "kept": kept, "decoder_skipped": runs[mode][0]["skipped_by_decoder"],
                     "cpu_s": round(cpu, 3), "cpu_ms_per_kept_frame": round(per_kept, 2),
                     "vs none": round(per_kept / base, 3)})
    if args.json:
        print(json.dumps({"size": args.size, "fps_cap": args.fps, "rows": rows}, indent=2))
    else:
        print(f"{args.size}, 30 fps with B-frames, {args.seconds:g} s, fps={args.fps:g}; median of {args.rounds} rounds")
        for r in rows:
            print(r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
