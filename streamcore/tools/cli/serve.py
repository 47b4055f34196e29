"""`serve`: a detector service for Frigate's ``zmq`` detector (and any client of its protocol).

    python -m streamcore serve --model M [--labels L] [--devices usb,usb,openvino:GPU]
                               [--zmq ipc:///tmp/cache/zmq_detector] [--metrics-port 9101]

Logs model loading on stderr, a stats line every --stats-interval seconds, and stops within a
second on SIGTERM (exit 0) or Ctrl-C (exit 130). An endpoint in use or that cannot be written
is one line and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any, List, Optional, TextIO

from ...adapters import read_labels
from ...errors import ServiceError
from ...jsonsafe import dumps
from ...pipeline.loop import run as run_loop
from ...services.zmq_detector import DEFAULT_ENDPOINT, ZmqDetectorService
from .classify import simulated_lines


def add_parser(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser("serve", help="serve detections over Frigate's ZMQ detector protocol")
    p.add_argument("--model", "-m", help="an SSD .tflite model (TFLite_Detection_PostProcess); without it, "
                   "the service waits for a client to send one")
    p.add_argument("--labels", "-l", help="label file, to name objects in the stats line")
    p.add_argument("--devices", "-d", default="auto", help="device spec, every backend's (default: auto)")
    p.add_argument("--zmq", default=DEFAULT_ENDPOINT,
                   help=f"endpoint: ipc:///path (default {DEFAULT_ENDPOINT}) or tcp://[host:]port "
                        "(host 127.0.0.1 unless given)")
    p.add_argument("--model-cache", help="folder for models clients send (default ~/.cache/streamcore/zmq-models)")
    p.add_argument("--threshold", "-t", type=float, default=0.4, help="minimum score of a row (default 0.4)")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on this port")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address for /metrics (default 127.0.0.1)")
    p.add_argument("--stats-interval", type=float, default=10.0, help="seconds between stats lines on stderr")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))


def setup_logging(command: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"streamcore {command}: %(message)s"))
    root = logging.getLogger("streamcore")
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))


def run(args: argparse.Namespace) -> int:
    setup_logging("serve", args.log_level)
    return run_loop(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from ...services.metrics import MetricsServer

    labels = read_labels(args.labels) if args.labels else None
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: List[int] = []

    def on_signal(sig: int) -> None:
        received.append(sig)
        stop.set()

    if args.stats_interval <= 0:
        raise ServiceError("--stats-interval must be positive")
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    metrics: Optional[MetricsServer] = None
    service: Optional[ZmqDetectorService] = None
    try:
        service = ZmqDetectorService(
            args.model, args.devices, endpoint=args.zmq, model_cache=args.model_cache,
            threshold=args.threshold, labels=labels,
        )
        if args.metrics_port is not None:
            metrics = MetricsServer(args.metrics_port, args.metrics_host).add_service(service)
            service.on_result = metrics.observe_result
            metrics.start()  # a port in use: one line, exit 2, before the model loads
        starting = loop.create_task(service.start())
        stopper = loop.create_task(stop.wait())
        await asyncio.wait([starting, stopper], return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # a signal while the model loads
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            return _stopped(received)
        stopper.cancel()
        starting.result()  # a start-up error: one line, exit 2 (the CLI's handler)
        if service.engine is not None:
            for line in simulated_lines(service.engine.stats()):
                print(f"streamcore serve: {line}", file=sys.stderr, flush=True)
        stats = loop.create_task(_print_stats(service, args.stats_interval, sys.stderr))
        await stop.wait()
        stats.cancel()
        await asyncio.gather(stats, return_exceptions=True)
        await service.close()
        _stats_line(service, sys.stderr, final=True)
    finally:
        if service is not None:
            await service.close()
        if metrics is not None:
            metrics.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return _stopped(received)


def _stopped(received: List[int]) -> int:
    print("streamcore serve: stopped", file=sys.stderr, flush=True)
    return 130 if received and received[0] == signal.SIGINT else 0


async def _print_stats(service: ZmqDetectorService, interval: float, out: TextIO) -> None:
    while True:
        await asyncio.sleep(interval)
        _stats_line(service, out)


def _stats_line(service: ZmqDetectorService, out: TextIO, final: bool = False) -> None:
    line: dict[str, Any] = {"serve": service.stats()}
    if final:
        line["final"] = True
    out.write(dumps(line) + "\n")
    out.flush()


__all__: List[str] = ["add_parser", "run"]
