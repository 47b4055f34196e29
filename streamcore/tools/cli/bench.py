"""`bench`: what this machine can do, CPU against Edge TPUs against the hand-written loop."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Optional

from ..bench import BenchOptions, render, run_bench, to_csv, to_json, write_plot
from ..bench.export import check_plot_available
from ..bench.plan import MODES
from ..bench.progress import Progress
from ..bench.session import DEFAULT_SECONDS, DEFAULT_WARMUP


def add_parser(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser(
        "bench", help="benchmark CPU and Edge TPU configurations side by side",
        description="With no arguments: the built-in synthetic MobileNet V2 and clip, on the Edge TPUs "
                    "found, else the CPU, in every mode (about a minute).",
    )
    p.add_argument("--model", "-m", help="a .tflite image model (default: built-in synthetic MobileNet V2); "
                                          "its _edgetpu sibling is used on TPUs when present")
    p.add_argument("--labels", "-l", help="label file for the model")
    p.add_argument("--video", action="append", default=[], metavar="PATH",
                   help="a video file (repeatable; stream k plays video k modulo their count)")
    p.add_argument("--streams", type=int, default=1, help="concurrent streams in throughput and pipeline modes")
    p.add_argument("--devices", "-d", action="append", default=[], metavar="SPEC",
                   help="one device configuration (repeatable: compared side by side), e.g. cpu:2, usb:0, "
                        "sim:4 (simulated), auto")
    p.add_argument("--frames", type=int, help="frames per measurement (instead of --seconds)")
    p.add_argument("--seconds", type=float, help=f"seconds per measurement (default {DEFAULT_SECONDS:g})")
    p.add_argument("--warmup", type=int, default=DEFAULT_WARMUP,
                   help=f"warm-up inferences after the first (default {DEFAULT_WARMUP})")
    p.add_argument("--mode", action="append", default=[], metavar="MODE",
                   help=f"{' | '.join(MODES)} (repeatable or comma-separated; default: all)")
    p.add_argument("--baseline", action="store_true",
                   help="also run the hand-written single-thread loop of the Coral examples")
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="write the report as JSON to PATH (no PATH: stdout, and the table goes to stderr)")
    p.add_argument("--csv", nargs="?", const="-", metavar="PATH",
                   help="write one CSV row per result to PATH (no PATH: stdout)")
    p.add_argument("--plot", metavar="PNG", help="bar charts of FPS and latency (needs matplotlib)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress")


def _write(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        with open(target, "w") as f:
            f.write(text)


def run(args: argparse.Namespace) -> int:
    if args.plot:
        check_plot_available()  # before a minute of measuring
    options = BenchOptions(
        model=args.model, labels=args.labels, videos=args.video, streams=args.streams, devices=args.devices,
        frames=args.frames, seconds=args.seconds, warmup=args.warmup, modes=args.mode, baseline=args.baseline,
    )
    report = run_bench(options, Progress(0, enabled=not args.quiet))
    to_stdout = "-" in (args.json, args.csv)
    table_stream: Optional[Any] = sys.stderr if to_stdout else sys.stdout
    print(render(report), file=table_stream)
    if args.json:
        _write(args.json, to_json(report))
    if args.csv:
        _write(args.csv, to_csv(report))
    if args.plot:
        write_plot(report, args.plot)
        print(f"plot: {args.plot}", file=table_stream)
    return 0
