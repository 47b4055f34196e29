"""Many video streams through one Engine: ``async with Pipeline(...) as p: p.add_source(...)``."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from typing import Any, AsyncIterator, Callable, Deque, Dict, Optional, Tuple, Union

from ..backends.specs import DeviceSpec, default_cpu_count
from ..engine.cascade import CLASSIFIER, DETECTOR
from ..engine.engine import Cascade, Engine
from ..engine.model import ModelSource
from ..engine.runner import Completion
from ..engine.segments import Segments
from ..errors import EngineClosedError, InputError
from ..sources import AvSource, LiveOptions, open_source
from ..types import Result
from .hub import ResultHub
from .queue import RecordQueue
from .records import StreamResult
from .stats import LoopLagMonitor, Samples
from .stream import Stream

__all__ = ["Pipeline"]

log = logging.getLogger("streamcore.pipeline")


class Pipeline:
    """Runs video sources through one model on one or more devices.

    ::

        async with Pipeline(model="m.tflite", devices="cpu:2", adapter=Detect()) as p:
            door = p.add_source("rtsp://cam/door", name="door")
            async for r in p.results():      # every stream, in frame order per stream
                ...

    Either give ``model``/``devices``/``adapter`` (and any other Engine option as keyword
    arguments) or an ``engine`` you started yourself. ``model`` may be a ``Cascade`` (or
    ``engine`` a cascade engine): each result's value is then the detector's objects, each
    with its ``secondary`` result, and stats count the objects per stream. ``keep_frames`` puts the decoded frame
    in each result. With ``wait_for_consumer`` (default) a stream waits for someone to read
    its results (``p.results()`` or ``stream.results()``): nothing of a file is lost; set it
    False to keep only ``stream.latest`` when nobody reads. ``buffer`` bounds each reader's
    queue. ``decoder_threads`` is the total of codec threads shared by the PyAV sources
    (default: the cores); source threads run ``decoder_nice`` steps below the event loop's
    priority, as the engine's workers do, so that the loop stays responsive; with
    ``decoder_idle`` they run under SCHED_IDLE instead (Linux): the loop preempts them at
    once, but they get almost no CPU while another process on the host wants it (and one
    starved while holding the GIL stalls the loop): for hosts that run nothing else.
    ``metrics_port`` serves Prometheus ``/metrics`` on ``metrics_host`` while the pipeline
    runs (``streamcore.services.metrics``; needs prometheus-client; 0 picks a free port,
    see ``p.metrics.url``).
    """

    def __init__(
        self,
        model: Optional[Union[ModelSource, Segments, Cascade]] = None,
        devices: DeviceSpec = "auto",
        adapter: Optional[Callable[[Result], Any]] = None,
        *,
        engine: Optional[Engine] = None,
        keep_frames: bool = False,
        wait_for_consumer: bool = True,
        buffer: int = 64,
        live_queue: int = 2,
        max_inflight: Optional[int] = None,
        decoder_threads: Optional[int] = None,
        decoder_nice: int = 5,
        decoder_idle: bool = False,
        monitor_loop: bool = True,
        metrics_port: Optional[int] = None,
        metrics_host: str = "127.0.0.1",
        **engine_options: Any,
    ) -> None:
        if engine is None:
            if model is None:
                raise InputError("Pipeline needs model=... (a .tflite path or bytes) or engine=...")
            engine = Engine(model, devices=devices, adapter=adapter, **engine_options)
            self._owns_engine = True
        else:
            if model is not None or engine_options:
                raise InputError("give either engine=... or model=... with engine options, not both")
            self._owns_engine = False
        if buffer < 1 or live_queue < 1:
            raise InputError("buffer and live_queue must be at least 1")
        if not isinstance(decoder_idle, bool):
            raise InputError(f"decoder_idle={decoder_idle!r}; pass True (decoders under SCHED_IDLE) or False")
        self.engine = engine
        self.keep_frames = keep_frames
        self._hub = ResultHub(buffer, wait_for_consumer)
        self.live_queue = live_queue
        self._max_inflight = max_inflight
        self._decoder_threads = decoder_threads or default_cpu_count()
        self.decoder_nice = decoder_nice
        self.decoder_idle = decoder_idle
        self._streams: Dict[str, Stream] = {}
        self._idle: Optional[asyncio.Event] = None
        self._monitor = LoopLagMonitor() if monitor_loop else None
        self._device_invoke: Dict[str, Samples] = {}
        # device -> its stats key and invoke samples, for single-model results
        self._single: Dict[str, Tuple[str, Samples]] = {}
        self._busy_snapshots: Deque[Tuple[float, Dict[str, float]]] = deque(maxlen=6)
        self._housekeeping: Optional["asyncio.Task[None]"] = None
        self._started_at = 0.0
        self._names = itertools.count(1)
        self._state = "new"
        self.metrics: Optional[Any] = None
        if metrics_port is not None:
            from ..services.metrics import MetricsServer

            self.metrics = MetricsServer(metrics_port, metrics_host).add_pipeline(self)

    @property
    def buffer(self) -> int:
        """Bounds each reader's queue."""
        return self._hub.buffer

    @buffer.setter
    def buffer(self, value: int) -> None:
        self._hub.buffer = value

    @property
    def wait_for_consumer(self) -> bool:
        """Streams wait for someone to read their results."""
        return self._hub.wait_for_consumer

    @wait_for_consumer.setter
    def wait_for_consumer(self, value: bool) -> None:
        self._hub.wait_for_consumer = value

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> "Pipeline":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._state == "closed":
            raise EngineClosedError("the pipeline is closed; create a new Pipeline")
        if self._state == "running":
            return
        if self.metrics is not None:
            self.metrics.start()  # a port in use fails here, before anything else starts
        try:
            await self.engine.start()
        except BaseException:
            if self.metrics is not None:
                self.metrics.close()
            raise
        self._hub.start()
        self._idle = asyncio.Event()
        self._started_at = time.monotonic()
        if self._monitor is not None:
            self._monitor.start()
        self._housekeeping = asyncio.get_running_loop().create_task(self._sample_devices(), name="sc-pipeline-stats")
        self._state = "running"

    async def close(self) -> None:
        """Stops every source, ends every reader's iteration, closes the engine if it made it.
        Idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        await asyncio.gather(*(s.close() for s in list(self._streams.values())), return_exceptions=True)
        for q in self._hub.subscribers:
            _put_sentinel(q)
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        if self._monitor is not None:
            await self._monitor.stop()
        if self._owns_engine:
            await self.engine.close()
        if self.metrics is not None:
            self.metrics.close()

    @property
    def closed(self) -> bool:
        return self._state == "closed"

    # -- sources ---------------------------------------------------------------------------

    def _direct_submit(self) -> Optional[Callable[[Any, Completion], None]]:
        """What lossless streams submit with from their source threads: the engine's
        submit_nowait when the model takes frames alone (no cascade, no other inputs)."""
        engine = self.engine
        if engine.cascade is not None or len(engine.input_details()) != 1:
            return None
        return engine.frame_submitter()

    def add_source(
        self,
        source: Any,
        name: Optional[str] = None,
        *,
        live: Optional[bool] = None,
        fps: Optional[float] = None,
        realtime: bool = False,
        stall_timeout: float = 10.0,
        open_timeout: float = 10.0,
        reconnect: bool = True,
        max_reconnects: Optional[int] = None,
        reconnect_delay: float = 0.5,
        max_reconnect_delay: float = 30.0,
        format: Optional[str] = None,
        options: Optional[Dict[str, str]] = None,
        hwaccel: Optional[str] = None,
        skip_frames: str = "auto",
    ) -> Stream:
        """Starts a source and returns its Stream.

        `source`: a file path, a URL (rtsp://, rtsps://, http(s)://, udp://, tcp://, ...), a
        V4L2 device (/dev/videoN), or a sync/async iterable of frames (numpy images or
        av.VideoFrames). Files and iterables are lossless (the source waits for room);
        URLs and cameras are live (the oldest waiting frame is dropped): override with
        `live=`. `fps` caps the frames sent to inference (the rest are counted as
        sampled out); `realtime` paces a file at its own frame rate. Live sources reopen
        with exponential backoff (`reconnect_delay` doubling up to `max_reconnect_delay`)
        when they close or send nothing for `stall_timeout` seconds. `format`/`options`
        go to FFmpeg (av.open). `hwaccel` ("auto", "vaapi", "qsv", "cuda", "videotoolbox",
        "v4l2m2m", or another PyAV device type) decodes on hardware; without a hardware path
        the stream decodes in software, says so once in the log and in its stats
        (`decoder`, `hwaccel_fallback`). `skip_frames`: under an `fps` cap below the stream's
        rate the decoder leaves out the non-reference frames the cap will not keep ("auto": the
        frames kept are those kept without it); "nonref" leaves out every non-reference frame
        (a kept frame may move to the next decoded one), "keyframes" decodes keyframes only,
        "none" every frame. Results keep their true index and pts; frames left out count as
        sampled out (`decode_skipped` in the stats).
        """
        if self._state != "running":
            raise EngineClosedError("the pipeline is not running; use `async with Pipeline(...) as p`")
        built = open_source(
            source,
            name,
            live=live,
            fps=fps,
            realtime=realtime,
            live_options=LiveOptions(
                open_timeout=open_timeout,
                stall_timeout=stall_timeout,
                reconnect=reconnect,
                max_reconnects=max_reconnects,
                reconnect_delay=reconnect_delay,
                max_reconnect_delay=max_reconnect_delay,
            ),
            format=format,
            options=options,
            unique=self._unique,
            hwaccel=hwaccel,
            skip_frames=skip_frames,
        )
        display_name, kind, is_live = built.name, built.kind, built.live
        if display_name in self._streams:
            raise InputError(f"a stream named {display_name!r} exists; pick another name or remove it first")
        capacity = max(1, self.engine.capacity)
        stream = Stream(
            display_name,
            built,
            kind,
            hub=self._hub,
            infer=self.engine.infer,
            live=is_live,
            max_inflight=self._max_inflight or capacity,
            live_queue=self.live_queue,
            keep_frames=self.keep_frames,
            decoder_nice=self.decoder_nice,
            decoder_idle=self.decoder_idle,
            on_result=self._record_device,
            on_finished=self._stream_finished,
            cascade=self.engine.cascade is not None,
            submit=self._direct_submit(),
        )
        self._streams[display_name] = stream
        if isinstance(built, AvSource):
            self._share_decoder_threads()
        assert self._idle is not None
        self._idle.clear()
        stream.start()
        log.info("%s: added %s (%s%s)", display_name, built.url, kind, ", live" if is_live else "")
        return stream

    def _share_decoder_threads(self) -> None:
        # Sources read `threads` when they open, so ones added together share the budget.
        av_sources = [s._source for s in self._streams.values() if isinstance(s._source, AvSource) and not s.ended]
        each = max(1, self._decoder_threads // max(1, len(av_sources)))
        for src in av_sources:
            src.threads = each  # type: ignore[union-attr]

    async def remove_source(self, stream: Union[str, Stream]) -> None:
        """Stops a stream (its readers get its end record) and forgets it."""
        key = stream.name if isinstance(stream, Stream) else stream
        found = self._streams.get(key)
        if found is None:
            raise InputError(f"no stream named {key!r}; streams are {sorted(self._streams)}")
        await found.close()
        self._streams.pop(key, None)
        self._check_idle()

    @property
    def streams(self) -> Dict[str, Stream]:
        return dict(self._streams)

    def _unique(self, base: str) -> str:
        name = base
        while name in self._streams:
            name = f"{base}-{next(self._names)}"
        return name

    # -- results ---------------------------------------------------------------------------

    async def results(self, until_idle: bool = True) -> AsyncIterator[StreamResult]:
        """Records from every stream (each stream's in frame order, including its end
        record). Stops when the pipeline closes, or with `until_idle` once every stream added
        so far has ended (files played out)."""
        q: "RecordQueue[Optional[StreamResult]]" = RecordQueue(self.buffer)
        self._hub.subscribers.append(q)
        self._hub.notify_subscriber()
        try:
            if self._state == "closed":
                return
            while True:
                if q.items:  # the common case: a record is waiting, no await needed
                    record = q.get_nowait()
                elif until_idle and self._streams and all(s.end_delivered for s in self._streams.values()):
                    return  # every end record is in (streams end before a full reader takes theirs)
                else:
                    record = await q.get()
                if record is None:
                    return
                yield record
        finally:
            self._hub.subscribers.remove(q)

    def _is_idle(self) -> bool:
        return bool(self._streams) and all(s.ended for s in self._streams.values())

    def _stream_finished(self, stream: Stream) -> None:
        self._share_decoder_threads()
        self._check_idle()

    def _check_idle(self) -> None:
        if self._idle is not None and self._is_idle():
            self._idle.set()

    async def wait_idle(self) -> None:
        """Waits until every stream added so far has ended."""
        assert self._idle is not None
        await self._idle.wait()

    # -- stats -----------------------------------------------------------------------------

    def _device_key(self, model: str, device: str) -> str:
        # One engine's models may run on devices of the same name (cpu0 for each model).
        return device if len(self.engine.models) == 1 else f"{model}/{device}"

    def _record_device(self, result: Result) -> None:
        if result.cascade is None:
            entry = self._single.get(result.device)
            if entry is None:  # once per device: the key needs the engine's model list
                key = self._device_key(self.engine.models[0], result.device)
                entry = self._single[result.device] = (key, self._invoke_samples(key))
            key, samples = entry
            samples.add(result.timings.invoke_ms)
            if self.metrics is not None:
                self.metrics.observe(key, result.timings.invoke_ms)
            return
        self._add_invoke(self._device_key(DETECTOR, result.device), result.timings.invoke_ms)
        for o in result.value:
            s = o.secondary
            if s is not None and s.device is not None and s.timings is not None:
                self._add_invoke(self._device_key(CLASSIFIER, s.device), s.timings.invoke_ms)

    def _invoke_samples(self, key: str) -> Samples:
        samples = self._device_invoke.get(key)
        if samples is None:
            samples = self._device_invoke[key] = Samples(256)
        return samples

    def _add_invoke(self, key: str, invoke_ms: float) -> None:
        self._invoke_samples(key).add(invoke_ms)
        if self.metrics is not None:
            self.metrics.observe(key, invoke_ms)

    async def _sample_devices(self) -> None:
        while True:
            self._snapshot_busy()
            await asyncio.sleep(1.0)

    def _snapshot_busy(self) -> None:
        self._busy_snapshots.append(
            (time.monotonic(), {self._device_key(d["model"], d["name"]): float(d["busy_s"]) for d in self.engine.stats()})
        )

    def stats(self) -> Dict[str, Any]:
        """Per stream (keyed by name; URLs are redacted), per device (``model/device`` when
        the engine runs several models, as a cascade does), how completions reached the loop
        (``Engine.completion_stats``), a cascade's totals, and the loop's lag."""
        now = time.monotonic()
        devices: Dict[str, Any] = {}
        busy_now = {self._device_key(d["model"], d["name"]): d for d in self.engine.stats()}
        then, busy_then = self._busy_snapshots[0] if self._busy_snapshots else (self._started_at, {})
        span = max(1e-6, now - then)
        for name, d in busy_now.items():
            samples = self._device_invoke.get(name)
            devices[name] = {
                "inference_speed": None if samples is None or not len(samples) else round(samples.mean() or 0.0, 3),
                "busy": round(min(1.0, (float(d["busy_s"]) - busy_then.get(name, 0.0)) / span), 3),
                "frames": d["frames"],
                "errors": d["errors"],
                "inflight": d["inflight"],
                "healthy": d["healthy"],
                "simulated": bool(d.get("simulated", False)),
            }
            if "segment" in d:  # a pipelined model: a result's invoke time spans every segment
                devices[name]["segment"] = d["segment"]
                frames = int(d["frames"])
                devices[name]["inference_speed"] = round(float(d["busy_s"]) * 1000 / frames, 3) if frames else None
        out: Dict[str, Any] = {
            "uptime_s": round(now - self._started_at, 3) if self._started_at else 0.0,
            "streams": {name: s.stats() for name, s in self._streams.items()},
            "devices": devices,
            "completions": self.engine.completion_stats(),
        }
        cascade = self.engine.cascade_stats()
        if cascade is not None:
            out["cascade"] = cascade
        plans = {key: self.engine.plan(key) for key in self.engine.models}
        if any(plans.values()):
            out["plan"] = {key: plan for key, plan in plans.items() if plan}
        if self._monitor is not None:
            out["loop_lag"] = self._monitor.summary()
        return out

    def __repr__(self) -> str:
        return f"Pipeline({self.engine!r}, streams={sorted(self._streams)}, {self._state})"


def _put_sentinel(q: "RecordQueue[Optional[StreamResult]]") -> None:
    try:
        q.put_nowait(None)
    except asyncio.QueueFull:
        try:
            q.get_nowait()
            q.put_nowait(None)
        except (asyncio.QueueEmpty, asyncio.QueueFull):
            pass
