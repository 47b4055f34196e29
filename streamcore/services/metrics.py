"""Prometheus ``/metrics`` for a Pipeline, a ZMQ detector service or a bare Engine
(``prometheus-client``; ``pip install 'streamcore[serve]'``).

Names follow Prometheus conventions (``streamcore_..._total`` counters, ``_seconds`` units);
the help text gives Frigate's name where one exists. Stats are read on the event loop's thread
(the HTTP server's thread asks the loop for a snapshot), so a scrape never races the pipeline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ..errors import ServiceError
from ..types import Result

__all__ = ["MetricsServer", "STREAM_STATES"]

log = logging.getLogger("streamcore.metrics")

STREAM_STATES = ("connecting", "streaming", "stalled", "reconnecting", "ended")
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _import_prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise ServiceError(
            "--metrics-port needs prometheus-client: pip install 'streamcore[serve]' (or prometheus-client)"
        ) from None
    return prometheus_client


class MetricsServer:
    """``MetricsServer(9101).add_pipeline(p).start()`` serves ``http://127.0.0.1:9101/metrics``.

    ``observe_result`` feeds the per-device inference-time histogram (a Pipeline and the ZMQ
    service call it for every result). ``start`` raises ServiceError when the port is taken.
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ServiceError(f"metrics port {port!r}: use 1-65535 (0 for any free port)")
        prometheus_client = _import_prometheus()
        self.port, self.host = port, host
        self.registry = prometheus_client.CollectorRegistry()
        self._inference = prometheus_client.Histogram(
            "streamcore_device_inference_seconds",
            "Inference (invoke) time per device and model (Frigate: inference_speed, in ms there)",
            ["device"], buckets=_BUCKETS, registry=self.registry,
        )
        self._sources: List[Tuple[str, Any]] = []
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._busy: Dict[str, Tuple[float, float]] = {}  # device -> (time, busy seconds) at last scrape
        self._server: Any = None
        self._thread: Any = None
        self.registry.register(_Collector(self))

    def add_pipeline(self, pipeline: Any) -> "MetricsServer":
        self._sources.append(("pipeline", pipeline))
        return self

    def add_service(self, service: Any) -> "MetricsServer":
        self._sources.append(("service", service))
        return self

    def add_engine(self, engine: Any) -> "MetricsServer":
        self._sources.append(("engine", engine))
        return self

    def observe_result(self, result: Result) -> None:
        self.observe(result.device, result.timings.invoke_ms)

    def observe(self, device: str, invoke_ms: float) -> None:
        """One inference's invoke time on `device` (a Pipeline whose engine runs several models
        names it ``model/device``)."""
        self._inference.labels(device=device).observe(invoke_ms / 1000.0)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def start(self) -> "MetricsServer":
        """Binds and serves on a daemon thread. Call from the event loop's thread."""
        if self._server is not None:
            return self
        prometheus_client = _import_prometheus()
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        try:
            server, thread = prometheus_client.start_http_server(self.port, addr=self.host, registry=self.registry)
        except OSError as e:
            raise ServiceError(f"cannot serve metrics on {self.host}:{self.port}: {e.strerror or e}") from None
        self._server, self._thread = server, thread
        self.port = int(server.server_address[1])
        thread.name = "sc-metrics"
        log.info("metrics on %s", self.url)
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    # -- collection (HTTP thread) ------------------------------------------------------------

    def snapshot(self) -> List[Tuple[str, Dict[str, Any], List[Dict[str, Any]]]]:
        """(kind, stats, engine device stats) per source, read on the loop's thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return self._read()
        future: "concurrent.futures.Future[List[Tuple[str, Dict[str, Any], List[Dict[str, Any]]]]]" = (
            concurrent.futures.Future()
        )

        def read() -> None:
            try:
                future.set_result(self._read())
            except BaseException as e:
                future.set_exception(e)

        try:
            loop.call_soon_threadsafe(read)
            return future.result(timeout=5.0)
        except (RuntimeError, concurrent.futures.TimeoutError):
            return []  # the loop is gone or stuck: an empty scrape, not a hang
        except Exception as e:  # a scrape logs a failure, never a traceback
            log.warning("metrics: reading the stats failed: %s: %s", type(e).__name__, e)
            return []

    def _read(self) -> List[Tuple[str, Dict[str, Any], List[Dict[str, Any]]]]:
        out = []
        for kind, source in self._sources:
            if kind == "pipeline":
                out.append((kind, source.stats(), source.engine.stats() if source.engine.started else []))
            elif kind == "service":
                stats = source.stats()
                out.append((kind, stats, stats.get("devices", [])))
            else:
                out.append((kind, {"completions": source.completion_stats()}, source.stats() if source.started else []))
        return out

    def busy_ratio(self, device: str, busy_s: float, now: float) -> Optional[float]:
        previous = self._busy.get(device)
        self._busy[device] = (now, busy_s)
        if previous is None or now <= previous[0]:
            return None
        return max(0.0, min(1.0, (busy_s - previous[1]) / (now - previous[0])))


class _Collector:
    def __init__(self, server: MetricsServer) -> None:
        self.server = server

    def describe(self) -> Iterable[Any]:
        return []  # collected on demand only (the registry does not call collect at register)

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        now = time.monotonic()
        snapshot = self.server.snapshot()

        def gauge(name: str, doc: str, labels: List[str]) -> Any:
            return GaugeMetricFamily(name, doc, labels=labels)

        def counter(name: str, doc: str, labels: List[str]) -> Any:
            return CounterMetricFamily(name, doc, labels=labels)

        s_labels = ["stream"]
        camera = gauge("streamcore_stream_camera_fps", "Frames per second from the source (Frigate: camera_fps)", s_labels)
        process = gauge("streamcore_stream_process_fps", "Frames per second inferred (Frigate: process_fps)", s_labels)
        skipped = gauge("streamcore_stream_skipped_fps", "Frames per second dropped by a live source that fell behind (Frigate: skipped_fps)", s_labels)
        detection = gauge("streamcore_stream_detection_fps", "Results with objects per second (Frigate: detection_fps)", s_labels)
        frames = counter("streamcore_stream_frames", "Frames decoded", s_labels)
        dropped = counter("streamcore_stream_dropped_frames", "Frames dropped (live sources behind)", s_labels)
        errors = counter("streamcore_stream_errors", "Frames whose inference failed", s_labels)
        reconnects = counter("streamcore_stream_reconnects", "Times a live source was reopened", s_labels)
        state = gauge("streamcore_stream_state", "1 for the stream's current state", ["stream", "state"])

        d_labels = ["device", "model", "backend", "simulated"]
        busy = gauge("streamcore_device_busy_ratio", "Fraction of time the device was running frames, since the last scrape", d_labels)
        busy_s = counter("streamcore_device_busy_seconds", "Seconds the device spent running frames", d_labels)
        d_frames = counter("streamcore_device_frames", "Frames run on the device", d_labels)
        d_errors = counter("streamcore_device_errors", "Invokes that failed on the device", d_labels)
        healthy = gauge("streamcore_device_healthy", "1 while the device is in rotation", d_labels)
        reopens = counter("streamcore_device_reopens", "Times the device was reopened after a failure", d_labels)
        simulated = gauge("streamcore_device_simulated", "1 for streamcore's simulated Edge TPU (no hardware)", d_labels)
        lag = gauge("streamcore_loop_lag_seconds", "Event loop lag (how late a 20 ms sleeper wakes)", ["quantile"])
        c_drains = counter("streamcore_completion_drains", "Batches of completions the event loop took", [])
        c_frames = counter("streamcore_completion_frames", "Completions in those batches (frames / drains: the batch size)", [])
        c_deferred = counter("streamcore_completion_deferred_drains", "Batches put off under a backlog (coalesce_ms)", [])
        completions = {"drains": 0, "frames": 0, "deferred": 0}

        s_requests = counter("streamcore_serve_requests", "ZMQ detector requests answered", ["result"])
        s_uploads = counter("streamcore_serve_model_uploads", "Models clients sent", [])
        s_inflight = gauge("streamcore_serve_requests_in_flight", "ZMQ detector requests being answered", [])
        s_model = gauge("streamcore_serve_model_loaded", "1 while a model is loaded, labelled with its name", ["model"])

        seen_devices = set()
        for kind, stats, devices in snapshot:
            for name, s in (stats.get("streams") or {}).items():
                camera.add_metric([name], s["camera_fps"])
                process.add_metric([name], s["process_fps"])
                skipped.add_metric([name], s["skipped_fps"])
                detection.add_metric([name], s["detection_fps"])
                frames.add_metric([name], s["frames"])
                dropped.add_metric([name], s["dropped"])
                errors.add_metric([name], s["errors"])
                reconnects.add_metric([name], s["reconnects"])
                for st in STREAM_STATES:
                    state.add_metric([name, st], 1.0 if s["state"] == st else 0.0)
            for d in devices:
                labels = [str(d["name"]), str(d.get("model", "")), str(d.get("backend", "")),
                          "true" if d.get("simulated") else "false"]
                key = "/".join(labels[:2])
                if key in seen_devices:
                    continue
                seen_devices.add(key)
                ratio = self.server.busy_ratio(key, float(d["busy_s"]), now)
                if ratio is not None:
                    busy.add_metric(labels, ratio)
                busy_s.add_metric(labels, float(d["busy_s"]))
                d_frames.add_metric(labels, d["frames"])
                d_errors.add_metric(labels, d["errors"])
                healthy.add_metric(labels, 1.0 if d.get("healthy") else 0.0)
                reopens.add_metric(labels, d.get("reopens", 0))
                simulated.add_metric(labels, 1.0 if d.get("simulated") else 0.0)
            for key in completions:
                completions[key] += int((stats.get("completions") or {}).get(key) or 0)
            loop_lag = stats.get("loop_lag")
            if loop_lag:
                for quantile, key in (("0.5", "p50_ms"), ("0.99", "p99_ms"), ("1", "max_ms")):
                    if loop_lag.get(key) is not None:
                        lag.add_metric([quantile], loop_lag[key] / 1000.0)
            if kind == "service":
                s_requests.add_metric(["ok"], stats["detections"])
                s_requests.add_metric(["error"], stats["errors"])
                s_uploads.add_metric([], stats["model_uploads"])
                s_inflight.add_metric([], stats["in_flight"])
                if stats.get("model"):
                    s_model.add_metric([stats["model"]], 1.0)
        c_drains.add_metric([], completions["drains"])
        c_frames.add_metric([], completions["frames"])
        c_deferred.add_metric([], completions["deferred"])
        families = [camera, process, skipped, detection, frames, dropped, errors, reconnects, state,
                    busy, busy_s, d_frames, d_errors, healthy, reopens, simulated, lag, c_drains, c_frames, c_deferred]
        if any(kind == "service" for kind, _, _ in snapshot):
            families += [s_requests, s_uploads, s_inflight, s_model]
        return families
