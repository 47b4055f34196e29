"""streamcore's own host work per frame as instructions, not seconds: repeatable on a shared
machine where host_cpu.py's CPU times move by 15% between runs.

    python benchmarks/host_instructions.py [--trees /path/to/before /path/to/after] [--frames 150]

The workload is host_cpu.py's (4 streams of pre-decoded yuv420p frames on sim:4, SIMULATED Edge
TPUs, under uvloop) with 320x240 frames, so that the preprocess kernel, which is not counted,
costs little under valgrind. Each tree runs it twice under `valgrind --tool=callgrind
--separate-threads=yes`, with --frames and 2 x --frames per stream; the difference between the
two runs, divided by the extra frames, is the instructions per frame with start-up and
shut-down taken out. Threads: the event loop is the main thread; a source thread is one that
made a native FrameView (`make_frame_view` in its profile). Needs valgrind. Periodic work (health
checks, stats sampling, the loop-lag monitor) runs per second, and a second under valgrind holds
far fewer frames, so it weighs more per frame here: compare trees with this, not absolute costs.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import print_table  # noqa: E402


def child(frames: int, streams: int) -> None:
    """The workload, run under callgrind in the tree given by PYTHONPATH."""
    import av
    import numpy as np
    import uvloop

    import host_cpu
    import streamcore
    from streamcore import Pipeline

    rng = np.random.default_rng(0)
    pictures = [av.VideoFrame.from_ndarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), format="rgb24")
                .reformat(format="yuv420p") for _ in range(8)]

    async def run() -> int:
        async with Pipeline(model=host_cpu.model_path(), devices="sim:4") as p:
            for i in range(streams):
                p.add_source(host_cpu.cycle(pictures, frames), name=f"cam{i}")
            return sum([1 async for r in p.results() if r.ok])

    done = uvloop.run(run())
    print(json.dumps({"results": done, "streamcore": str(Path(streamcore.__file__).resolve().parent)}))


def profile(tree: Path, frames: int, streams: int) -> Dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="sc-callgrind-"))
    try:
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}/cg.%p",
             sys.executable, str(Path(__file__)), "--child", str(frames), "--streams", str(streams)],
            cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True)
        if run.returncode != 0:
            raise SystemExit(f"{tree}: the workload failed under valgrind:\n{run.stderr[-2000:]}")
        result = json.loads(run.stdout.strip().splitlines()[-1])
        if not result["streamcore"].startswith(str(tree.resolve())):
            raise SystemExit(f"{tree}: the run imported {result['streamcore']}, not the tree's streamcore")
        if result["results"] != frames * streams:
            raise SystemExit(f"{tree}: {result['results']} results, expected {frames * streams}")
        loop = sources = 0
        for path in glob.glob(f"{out}/cg.*-*"):
            text = Path(path).read_text(errors="replace")
            found = re.search(r"^summary: (\d+)", text, re.M)
            instructions = int(found.group(1)) if found else 0
            if path.endswith("-01"):
                loop = instructions
            elif "make_frame_view" in text:
                sources += instructions
        return {"loop": loop, "sources": sources}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trees", nargs="+", default=[str(HERE.parent)], help="checkouts to compare")
    ap.add_argument("--frames", type=int, default=150, help="frames per stream in the short run (default 150)")
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.child, args.streams)
        return 0
    if args.frames < 1 or args.streams < 1:
        ap.error("--frames and --streams take whole numbers of at least 1")
    for tree in args.trees:
        if not (Path(tree) / "streamcore" / "__init__.py").is_file():
            ap.error(f"{tree} is not a streamcore checkout (no streamcore/__init__.py)")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    rows: List[Dict[str, Any]] = []
    for tree in args.trees:
        short = profile(Path(tree), args.frames, args.streams)
        long = profile(Path(tree), 2 * args.frames, args.streams)
        extra = args.frames * args.streams
        loop = (long["loop"] - short["loop"]) / extra
        sources = (long["sources"] - short["sources"]) / extra
        rows.append({"tree": Path(tree).name or str(tree), "loop_instructions": round(loop),
                     "sources_instructions": round(sources), "own_instructions": round(loop + sources)})
        print(f"  {tree} done", file=sys.stderr, flush=True)
    base = rows[0]["own_instructions"]
    for r in rows:
        r["vs_first"] = round(r["own_instructions"] / base, 3) if base else None
    if args.json:
        print(json.dumps({"frames_per_stream": [args.frames, 2 * args.frames], "streams": args.streams, "rows": rows},
                         indent=1))
    else:
        print(f"instructions per frame (callgrind), {args.streams} streams of 320x240 on sim:4 [SIMULATED Edge TPUs], "
              f"uvloop; runs of {args.frames} and {2 * args.frames} frames per stream, differenced")
        print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
