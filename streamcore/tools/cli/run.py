"""`run`: video sources through a model; results as JSON lines on stdout, stats on stderr.

    python -m streamcore run --model M [--labels L] [--devices D] SOURCE...

Stops when every source has ended, or cleanly on Ctrl-C / SIGTERM (exit 130).
Exit 1 when a source ended with an error.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any, Dict, List, Optional, TextIO

from ...adapters import Classify, Detect, read_labels
from ...jsonsafe import dumps
from ...pipeline.loop import run as run_loop
from ...pipeline.pipeline import Pipeline
from ...types import Result
from .classify import simulated_lines


def add_parser(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser("run", help="run video files, URLs or cameras through a model (JSON lines out)")
    p.add_argument("--model", "-m", required=True, help="a .tflite classification or SSD detection model")
    p.add_argument("--labels", "-l", help="label file (either 'id name' lines or one per line)")
    p.add_argument("--devices", "-d", default="auto", help="device spec, e.g. cpu:2 (default: auto)")
    p.add_argument("--task", choices=("auto", "classify", "detect"), default="auto",
                   help="auto: detect when the model ends in an SSD postprocess (4 outputs)")
    p.add_argument("--top-k", "-k", type=int, default=3, help="classes or objects per frame (default 3)")
    p.add_argument("--threshold", "-t", type=float, help="minimum score (default 0 classify, 0.5 detect)")
    p.add_argument("--fit", choices=("stretch", "letterbox", "crop"), default="stretch")
    p.add_argument("--fps", type=float, help="cap the frames per second sent to the model, per source")
    p.add_argument("--realtime", action="store_true", help="play files at their own frame rate")
    p.add_argument("--hwaccel", help="hardware decoding: auto, vaapi, qsv, cuda, videotoolbox, v4l2m2m, ... "
                   "(falls back to software, said once on stderr and in the stats)")
    p.add_argument("--live", action="store_true", help="treat files like cameras (drop frames when behind)")
    p.add_argument("--stats-interval", type=float, default=5.0, help="seconds between stats lines on stderr")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="file, URL (rtsp://, http://, ...), /dev/videoN")


class AutoAdapter:
    """Classify or Detect, chosen from the model's outputs at the first result."""

    def __init__(self, task: str, top_k: int, threshold: Optional[float], labels: Optional[Dict[int, str]]) -> None:
        self.task = task
        self._top_k = top_k
        self._threshold = threshold
        self._labels = labels
        self._adapter: Any = None if task == "auto" else self._make(task)

    def _make(self, task: str) -> Any:
        if task == "detect":
            threshold = 0.5 if self._threshold is None else self._threshold
            return Detect(threshold=threshold, labels=self._labels, top_k=self._top_k)
        return Classify(top_k=self._top_k, threshold=self._threshold or 0.0, labels=self._labels)

    def __call__(self, result: Result) -> Any:
        if self._adapter is None:
            self._adapter = self._make("detect" if len(result.outputs) == 4 else "classify")
        return self._adapter(result)


def run(args: argparse.Namespace) -> int:
    return run_loop(_run(args))


async def _run(args: argparse.Namespace) -> int:
    labels = read_labels(args.labels) if args.labels else None
    adapter = AutoAdapter(args.task, args.top_k, args.threshold, labels)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    failed = False
    try:
        async with Pipeline(model=args.model, devices=args.devices, adapter=adapter, fit=args.fit) as p:
            for line in simulated_lines(p.engine.stats()):
                print(f"streamcore run: {line}", file=sys.stderr, flush=True)
            for source in args.sources:
                p.add_source(source, live=True if args.live else None, fps=args.fps, realtime=args.realtime,
                             hwaccel=args.hwaccel)
            stats = loop.create_task(_print_stats(p, args.stats_interval, sys.stderr))
            printer = loop.create_task(_print_results(p, sys.stdout))
            stopper = loop.create_task(stop.wait())
            await asyncio.wait([printer, stopper], return_when=asyncio.FIRST_COMPLETED)
            interrupted = stop.is_set()
            for task in (stats, printer, stopper):
                task.cancel()
            await asyncio.gather(stats, printer, stopper, return_exceptions=True)
            failed = printer.done() and not printer.cancelled() and printer.result()
            _stats_line(p, sys.stderr, final=True)
            if not interrupted:  # a source that ended without one frame is a failure too
                for name, s in p.stats()["streams"].items():
                    if s["frames"] == 0:
                        print(f"streamcore run: {name}: ended without a single decoded frame", file=sys.stderr)
                        failed = True
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if interrupted:
        print("streamcore run: stopped", file=sys.stderr)
        return 130
    return 1 if failed else 0


async def _print_results(p: Pipeline, out: TextIO) -> bool:
    """Prints every record; True if a stream ended with an error."""
    failed = False
    async for record in p.results():
        out.write(dumps(record.to_dict()) + "\n")
        out.flush()
        if record.kind == "end" and record.error is not None:
            failed = True
    return failed


async def _print_stats(p: Pipeline, interval: float, out: TextIO) -> None:
    while True:
        await asyncio.sleep(interval)
        _stats_line(p, out)


def _stats_line(p: Pipeline, out: TextIO, final: bool = False) -> None:
    line: Dict[str, Any] = {"stats": p.stats()}
    if final:
        line["final"] = True
    out.write(dumps(line) + "\n")
    out.flush()


__all__: List[str] = ["add_parser", "run"]
