"""`classify`: the Coral getting-started example (classify_image.py) on streamcore."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any, Dict, Iterable, List

from ...adapters import Classify, read_labels
from ...engine.engine import Engine
from ...errors import InputError
from ...sources.images import load_image


def add_parser(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser("classify", help="classify images, like Coral's classify_image.py")
    p.add_argument("--model", "-m", required=True, help="a .tflite classification model")
    p.add_argument("--labels", "-l", help="label file (either 'id name' lines or one per line)")
    p.add_argument("--devices", "-d", default="cpu", help="device spec (default: cpu)")
    p.add_argument("--count", "-c", type=int, default=5, help="inferences per image (default 5)")
    p.add_argument("--top-k", "-k", type=int, default=1, help="results to show (default 1)")
    p.add_argument("--threshold", "-t", type=float, default=0.0, help="minimum score")
    p.add_argument("--input-mean", type=float, default=128.0, help="mean of the model's input normalization")
    p.add_argument("--input-std", type=float, default=128.0, help="std of the model's input normalization")
    p.add_argument("images", nargs="+", metavar="IMAGE")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_classify(args))


async def _classify(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise InputError(f"--count {args.count}: it must be at least 1")
    load_started = time.perf_counter()
    labels = read_labels(args.labels) if args.labels else None
    adapter = Classify(top_k=args.top_k, threshold=args.threshold, labels=labels)
    engine = Engine(args.model, devices=args.devices, adapter=adapter, mean=args.input_mean, std=args.input_std)
    frames = [(path, load_image(path)) for path in args.images]
    async with engine:
        for line in simulated_lines(engine.stats()):
            print(line)
        first = True
        for path, frame in frames:
            if len(frames) > 1:
                print(f"==== {path} ====")
            print("----INFERENCE TIME----")
            if first:
                print("Note: The first inference includes loading the model "
                      f"(interpreters for {', '.join(engine.devices)}), so it is slower.")
            result = None
            for _ in range(args.count):
                start = load_started if first else time.perf_counter()
                result = await engine.infer(frame)
                print(f"{(time.perf_counter() - start) * 1000:.1f}ms")
                first = False
            print("-------RESULTS--------")
            assert result is not None
            for c in result.value:
                print(f"{c.label if c.label is not None else c.id}: {c.score:.5f}")
    return 0


SIMULATED_NOTE = "[SIMULATED: no Edge TPU hardware]"


def simulated_lines(device_stats: Iterable[Dict[str, Any]]) -> List[str]:
    """One line per simulated device an engine runs on (``sim:N``): its results and times
    come from streamcore's libedgetpu simulator, not from a TPU, and the output says so."""
    seen: List[str] = []
    for d in device_stats:
        if d.get("simulated") and d["name"] not in seen:
            seen.append(d["name"])
    return [f"device {name} {SIMULATED_NOTE}" for name in seen]
