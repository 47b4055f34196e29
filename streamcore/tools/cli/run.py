"""`run`: video sources through a model; results as JSON lines on stdout, stats on stderr.

    python -m streamcore run --model M [--labels L] [--devices D] SOURCE...

A model cut in segments (one Edge TPU per segment at least):

    python -m streamcore run --model seg0_edgetpu.tflite --segment seg1_edgetpu.tflite --devices usb:0,usb:1 SOURCE...

A two-stage cascade (a detector, then a classifier on each object it finds):

    python -m streamcore run --model SSD --labels coco_labels.txt --devices cpu:1 \
        --classifier MOBILENET --classifier-labels imagenet_labels.txt --classifier-devices cpu:1 \
        --when-label car --max-per-frame 8 --margin 0.1 SOURCE...

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
from ...adapters.auto import TASKS, guess_task, make_adapter
from ...engine.cascade import Cascade
from ...engine.deploy import Deploy
from ...engine.segments import Segments
from ...errors import InputError
from ...jsonsafe import dumps
from ...pipeline.loop import run as run_loop
from ...pipeline.pipeline import Pipeline
from ...types import Object, Result
from .classify import simulated_lines
from .serve import setup_logging


def add_parser(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser("run", help="run video files, URLs or cameras through a model (JSON lines out)")
    p.add_argument("--model", "-m", required=True,
                   help="a .tflite classification, SSD detection, segmentation or MoveNet pose model")
    p.add_argument("--segment", action="append", default=[], metavar="MODEL",
                   help="the next segment of a model cut in segments (edgetpu_compiler --num_segments): "
                        "--model is segment 0, each --segment the next, in order; one device per segment at "
                        "least, spare devices replicate the slowest segment")
    p.add_argument("--labels", "-l", help="label file (either 'id name' lines or one per line)")
    p.add_argument("--devices", "-d", default="auto", help="device spec, e.g. cpu:2 (default: auto)")
    p.add_argument("--task", choices=("auto",) + TASKS, default="auto",
                   help="auto: from the outputs: detect (4, an SSD postprocess), pose ([1,1,17,3]), "
                        "segment ([1,H,W] or [1,H,W,C]), else classify. Segmentation prints class "
                        "fractions, not the mask")
    p.add_argument("--top-k", "-k", type=int,
                   help="classes or objects per frame (default 3; in a cascade, every object above the threshold)")
    p.add_argument("--threshold", "-t", type=float, help="minimum score (default 0 classify, 0.5 detect)")
    p.add_argument("--fit", choices=("stretch", "letterbox", "crop"), default="stretch")
    p.add_argument("--fps", type=float, help="cap the frames per second sent to the model, per source")
    p.add_argument("--realtime", action="store_true", help="play files at their own frame rate")
    p.add_argument("--hwaccel", help="hardware decoding: auto, vaapi, qsv, cuda, videotoolbox, v4l2m2m, ... "
                   "(falls back to software, said once on stderr and in the stats)")
    p.add_argument("--live", action="store_true", help="treat files like cameras (drop frames when behind)")
    p.add_argument("--stats-interval", type=float, default=5.0, help="seconds between stats lines on stderr")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on this port")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address for /metrics (default 127.0.0.1)")
    p.add_argument("--mqtt", metavar="URL", help="publish results to mqtt://[user:password@]host[:port]/prefix")
    c = p.add_argument_group("cascade", "run a classifier on each object the --model detector finds")
    c.add_argument("--classifier", metavar="MODEL", help="second-stage classification model (makes a cascade)")
    c.add_argument("--classifier-labels", metavar="L", help="the classifier's label file")
    c.add_argument("--classifier-devices", metavar="D", help="the classifier's devices (default: --devices)")
    c.add_argument("--classifier-top-k", type=int, default=1, metavar="K", help="classes per object (default 1)")
    c.add_argument("--when-label", action="append", metavar="LABEL",
                   help="classify only objects with this detector label (repeatable; needs --labels)")
    c.add_argument("--max-per-frame", type=int, metavar="N", help="classify at most N objects per frame, best first")
    c.add_argument("--margin", type=float, default=0.0,
                   help="widen each box by this fraction of its size before cropping (default 0)")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="file, URL (rtsp://, http://, ...), /dev/videoN")


class AutoAdapter:
    """Classify, Detect, Segment or Pose, chosen from the model's outputs at the first result
    (see ``streamcore.adapters.auto.guess_task``)."""

    def __init__(self, task: str, top_k: int, threshold: Optional[float], labels: Optional[Dict[int, str]]) -> None:
        self.task = task
        self._top_k = top_k
        self._threshold = threshold
        self._labels = labels
        self._adapter: Any = None if task == "auto" else self._make(task)

    def _make(self, task: str) -> Any:
        return make_adapter(task, top_k=self._top_k, threshold=self._threshold, labels=self._labels)

    def __call__(self, result: Result) -> Any:
        if self._adapter is None:
            self.task = guess_task([tuple(o.shape) for o in result.outputs])
            self._adapter = self._make(self.task)
        return self._adapter(result)


def run(args: argparse.Namespace) -> int:
    return run_loop(_run(args))


class LabelFilter:
    """A cascade's ``when``: objects whose label is one of ``labels``."""

    def __init__(self, labels: List[str]) -> None:
        self.labels = frozenset(labels)

    def __call__(self, o: Object) -> bool:
        return o.label in self.labels

    def __repr__(self) -> str:
        return f"LabelFilter({sorted(self.labels)})"


def _cascade(args: argparse.Namespace, labels: Optional[Dict[int, str]]) -> Optional[Cascade]:
    cascade_only = {"--classifier-labels": args.classifier_labels, "--classifier-devices": args.classifier_devices,
                    "--when-label": args.when_label, "--max-per-frame": args.max_per_frame,
                    "--margin": args.margin or None}
    if args.classifier is not None and args.segment:
        raise InputError("--segment and --classifier do not combine: a cascade's detector runs whole")
    if args.classifier is None:
        given = [flag for flag, value in cascade_only.items() if value is not None]
        if given:
            raise InputError(f"{', '.join(given)}: only for a cascade; add --classifier MODEL")
        return None
    if args.task not in ("auto", "detect"):
        raise InputError(f"a cascade's --model must be a detector; drop --task {args.task}")
    when = None
    if args.when_label:
        if labels is None:
            raise InputError("--when-label matches the detector's labels; add --labels")
        unknown = sorted(set(args.when_label) - set(labels.values()))
        if unknown:
            raise InputError(f"--when-label {', '.join(map(repr, unknown))}: not in {args.labels}")
        when = LabelFilter(args.when_label)
    threshold = 0.5 if args.threshold is None else args.threshold
    classifier_labels = read_labels(args.classifier_labels) if args.classifier_labels else None
    return Cascade(
        detector=Deploy(args.model, args.devices, Detect(threshold=threshold, labels=labels, top_k=args.top_k),
                        {"fit": args.fit}),
        classifier=Deploy(args.classifier, args.classifier_devices or args.devices,
                          Classify(top_k=args.classifier_top_k, labels=classifier_labels)),
        when=when,
        max_per_frame=args.max_per_frame,
        margin=args.margin,
    )


async def _run(args: argparse.Namespace) -> int:
    labels = read_labels(args.labels) if args.labels else None
    adapter = AutoAdapter(args.task, 3 if args.top_k is None else args.top_k, args.threshold, labels)
    cascade = _cascade(args, labels)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    failed = False
    mqtt: Optional[Any] = None
    try:
        if cascade is not None:
            pipeline = Pipeline(model=cascade, metrics_port=args.metrics_port, metrics_host=args.metrics_host)
        else:
            model = Segments([args.model, *args.segment]) if args.segment else args.model
            pipeline = Pipeline(model=model, devices=args.devices, adapter=adapter, fit=args.fit,
                                metrics_port=args.metrics_port, metrics_host=args.metrics_host)
        if args.mqtt:  # connected before anything starts: a broker that refuses is exit 2
            from ...services.mqtt import MqttPublisher

            setup_logging("run", "warning")
            mqtt = MqttPublisher(args.mqtt, stats=pipeline.stats, stats_interval=args.stats_interval)
            await mqtt.start()
        async with pipeline as p:
            for line in simulated_lines(p.engine.stats()):
                print(f"streamcore run: {line}", file=sys.stderr, flush=True)
            if p.metrics is not None:
                print(f"streamcore run: metrics on {p.metrics.url}", file=sys.stderr, flush=True)
            for source in args.sources:
                p.add_source(source, live=True if args.live else None, fps=args.fps, realtime=args.realtime,
                             hwaccel=args.hwaccel)
            stats = loop.create_task(_print_stats(p, args.stats_interval, sys.stderr, mqtt))
            printer = loop.create_task(_print_results(p, sys.stdout, mqtt))
            stopper = loop.create_task(stop.wait())
            await asyncio.wait([printer, stopper], return_when=asyncio.FIRST_COMPLETED)
            interrupted = stop.is_set()
            for task in (stats, printer, stopper):
                task.cancel()
            await asyncio.gather(stats, printer, stopper, return_exceptions=True)
            failed = printer.done() and not printer.cancelled() and printer.result()
            _stats_line(p, sys.stderr, final=True, mqtt=mqtt)
            if not interrupted:  # a source that ended without one frame is a failure too
                for name, s in p.stats()["streams"].items():
                    if s["frames"] == 0:
                        print(f"streamcore run: {name}: ended without a single decoded frame", file=sys.stderr)
                        failed = True
    finally:
        if mqtt is not None:
            await mqtt.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if interrupted:
        print("streamcore run: stopped", file=sys.stderr)
        return 130
    return 1 if failed else 0


async def _print_results(p: Pipeline, out: TextIO, mqtt: Optional[Any] = None) -> bool:
    """Prints (and publishes) every record; True if a stream ended with an error."""
    failed = False
    async for record in p.results():
        out.write(dumps(record.to_dict()) + "\n")
        out.flush()
        if mqtt is not None:
            mqtt.publish_record(record)
        if record.kind == "end" and record.error is not None:
            failed = True
    return failed


async def _print_stats(p: Pipeline, interval: float, out: TextIO, mqtt: Optional[Any] = None) -> None:
    while True:
        await asyncio.sleep(interval)
        _stats_line(p, out, mqtt=mqtt)


def _stats_line(p: Pipeline, out: TextIO, final: bool = False, mqtt: Optional[Any] = None) -> None:
    line: Dict[str, Any] = {"stats": p.stats()}
    if mqtt is not None:
        line["mqtt"] = mqtt.stats()  # connected, published, queued, dropped, reconnects
    if final:
        line["final"] = True
    out.write(dumps(line) + "\n")
    out.flush()


__all__: List[str] = ["add_parser", "run"]
