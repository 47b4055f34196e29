"""One stream inside a Pipeline: its source thread, its queue, its frames in flight, and
results delivered in frame order.

A stream with a source thread (a file, a camera, a sync iterable) submits each frame to the
engine from that thread (``Engine.submit_nowait``): no task, future or loop wake-up per
frame; the completions come back to the loop in batches and are delivered in frame order
from a reorder buffer, keyed by sequence numbers the source side hands out (error and end
records take theirs in their place among the frames).

- Lossless streams (files, sync iterables) hold a Window: the source thread blocks while
  ``window`` frames are between decode and delivery.
- Live streams never block their source: a frame that finds every one of ``max_inflight``
  slots taken (a slot is held from submit to delivery) waits, at most ``live_queue`` of them,
  and the oldest waiting frame is dropped. Whichever side frees a slot (the source thread on
  arrival, the loop on delivery) submits the next waiting frame.
- Async iterables and cascades go through the loop: frames are handed over with
  ``loop.call_soon_threadsafe`` (batched), a dispatch task runs each through ``infer``, and
  results are emitted from a FIFO of futures, so they too come out in frame order.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from collections import deque
from typing import Any, AsyncIterator, Awaitable, Callable, Deque, Dict, List, Optional, Tuple, Union

from ..engine.frames import NATIVE_AV_FORMATS, AvVideoFrame, av_format_name
from ..errors import InferenceError, SourceError, StreamcoreError
from ..sources import AnySource, AsyncIterableSource, SourceFrame
from ..sources.urls import redact
from ..engine.runner import Completion
from ..types import Result
from .hub import ResultHub
from .queue import RecordQueue
from .records import StreamResult
from .stats import Rate, Samples
from .window import Window

__all__ = ["Stream"]

log = logging.getLogger("streamcore.pipeline")

_Item = Union[SourceFrame, StreamResult]  # frames, or error/end records from the source


class Stream:
    """A source added to a Pipeline. ``async for r in stream.results()`` yields its records
    in frame order and stops after its end record.

    A stream runs its frames through ``infer`` and delivers its records to its own readers
    and to ``hub``'s; ``on_result`` sees every inference result, and ``on_finished`` the
    stream once it has ended. Source threads run ``decoder_nice`` steps below the event
    loop's priority."""

    def __init__(
        self,
        name: str,
        source: AnySource,
        kind: str,
        *,
        hub: ResultHub,
        infer: Callable[[Any], Awaitable[Result]],
        live: bool,
        max_inflight: int,
        live_queue: int,
        keep_frames: bool,
        decoder_nice: int = 0,
        decoder_idle: bool = False,
        on_result: Optional[Callable[[Result], None]] = None,
        on_finished: Optional[Callable[["Stream"], None]] = None,
        cascade: bool = False,
        submit: Optional[Callable[[Any, Completion], None]] = None,
    ) -> None:
        self.name = name
        self.url = source.url
        self.kind = kind
        self.live = live
        self.state = "connecting"
        self.reconnects = 0
        self.error: Optional[StreamcoreError] = None  # why it ended, if not cleanly
        self.last_error: Optional[str] = None
        self.latest: Optional[StreamResult] = None
        self._hub = hub
        self._source = source
        self._infer_frame = infer
        self._decoder_nice = decoder_nice
        self._decoder_idle = decoder_idle
        self._on_result = on_result
        self._on_finished = on_finished
        self._loop = asyncio.get_running_loop()
        self._keep_frames = keep_frames
        self._live_queue = max(1, live_queue)
        self._window = None if live else Window(max_inflight + self._live_queue)
        self._slots = asyncio.Semaphore(max_inflight)
        self._inbox: Deque[_Item] = deque()
        self._arrived = asyncio.Event()
        # (future of the record, whether it holds a frame's slot)
        self._ordered: "RecordQueue[Tuple[asyncio.Future[StreamResult], bool]]" = RecordQueue()
        self._subscribers: List["RecordQueue[Optional[StreamResult]]"] = []
        self._end_record: Optional[StreamResult] = None
        self._finished = asyncio.Event()
        # The end record was handed to the readers (or the stream closed): a stream ends when its
        # end record is taken in order, which may be before a full reader makes room for it.
        self._end_out = False
        self._closing = False
        self._sink = _SourceSink(self)
        # counters (every decoded frame ends as a result, an error, a drop or a sample-out)
        self.frames = 0
        self.results_count = 0
        self.errors = 0  # frames whose inference failed
        self.packet_errors = 0  # packets the decoder skipped (no frame came of them)
        self.dropped = 0
        self.sampled_out = 0
        # a cascade's objects, over the frames with a result (see CascadeInfo)
        self._cascade = cascade
        self.objects = 0
        self.classified = 0
        self.object_errors = 0
        self.skipped_objects = 0
        self.fused_frames = 0  # frames the native kernel read as decoded
        self.reformatted_frames = 0  # frames swscale converted first (a format with no native path)
        self.pixel_format: Optional[str] = None  # of the latest PyAV frame
        self._camera = Rate()
        self._process = Rate()
        self._detection = Rate()
        self._skipped = Rate()
        self._latency = Samples()
        self._invoke = Samples(256)
        self._thread: Optional[threading.Thread] = None
        self._starting: "Optional[asyncio.Future[None]]" = None
        self._tasks: List["asyncio.Task[Any]"] = []
        # Streams with a source thread submit from that thread (see the module doc).
        direct = submit is not None and not cascade and not isinstance(source, AsyncIterableSource)
        self._direct = submit if direct else None
        # Live streams submitting directly: what arrived and is not yet dispatched (frames, and
        # error or end records, which keep their place behind the frames), and the frames
        # dispatched and not yet delivered, bounded by max_inflight. Shared by the source
        # thread and the loop, under the lock.
        self._live_direct = direct and live
        self._live_lock = threading.Lock()
        self._waiting: Deque[_Item] = deque()
        self._flying = 0
        self._max_flying = max(1, max_inflight)
        self._seq = 0  # records handed out so far (frames, errors, the end): the source thread's,
        # or, for live streams, taken under _live_lock by whichever side dispatches
        self._seen = 0  # source thread: frames decoded so far (the index of an error or end record)
        self._ready: Dict[int, Tuple[StreamResult, bool]] = {}  # loop: done records by sequence
        self._next = 0  # loop: the sequence number to deliver next
        self._emit_task: "Optional[asyncio.Task[None]]" = None  # delivering while a reader is full
        self._flush_pending = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        loop = self._loop
        self._tasks = [] if self._direct is not None else [
            loop.create_task(self._dispatch(), name=f"sc-dispatch-{self.name}"),
            loop.create_task(self._emit(), name=f"sc-emit-{self.name}"),
        ]
        if isinstance(self._source, AsyncIterableSource):
            self._tasks.append(loop.create_task(self._source.run_async(self._sink), name=f"sc-source-{self.name}"))
        for task in self._tasks:
            task.add_done_callback(self._task_done)
        if not isinstance(self._source, AsyncIterableSource):
            self._thread = threading.Thread(
                target=self._run_source, name=f"sc-decode-{self.name}"[:63], daemon=True
            )
            # Thread.start() waits until the thread runs, which can take a GIL switch
            # interval or more while other decoders are busy: let an executor thread wait.
            self._starting = loop.run_in_executor(None, self._thread.start)

    def _task_done(self, task: "asyncio.Task[Any]") -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: %s failed; the stream stops", self.name, task.get_name(), exc_info=task.exception())
            self._loop.create_task(self.close())

    def _run_source(self) -> None:
        _lower_priority(self._decoder_nice, self._decoder_idle)
        source = self._source
        assert not isinstance(source, AsyncIterableSource)
        try:
            source.run(self._sink)
        except Exception as e:  # a bug or an unexpected library error: end the stream with it
            log.exception("%s: source thread failed", self.name)
            self._sink.end(SourceError(f"{self.name}: the source failed: {redact(str(e))}"))

    @property
    def ended(self) -> bool:
        return self._finished.is_set()

    @property
    def end_delivered(self) -> bool:
        """The stream ended and its end record is in its readers' queues (or was given up at
        close): nothing more of it is coming."""
        return self._end_out

    async def wait_ended(self) -> None:
        await self._finished.wait()

    async def __aenter__(self) -> "Stream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, timeout: float = 2.0) -> None:
        """Stops the source, drops queued frames, cancels frames in flight and emits the end
        record (if the stream had not ended). Idempotent."""
        if self._closing:
            return
        self._closing = True
        self._sink.stopping.set()
        if not isinstance(self._source, AsyncIterableSource):
            self._source.interrupt()
        if self._window is not None:
            self._window.wake()
        tasks = self._tasks + ([self._emit_task] if self._emit_task is not None else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        while not self._ordered.empty():
            self._ordered.get_nowait()[0].cancel()
        self._inbox.clear()
        self._ready.clear()  # frames still on the engine are dropped when they complete
        with self._live_lock:
            self._waiting.clear()
        if not self._finished.is_set():
            self._finish(StreamResult(self.name, "end", index=self.frames), block=False)
        self._end_out = True  # a delivery that close() cancelled: nothing more is coming
        if self._starting is not None:
            await self._starting
        thread = self._thread
        if thread is not None and thread.is_alive():
            deadline = time.monotonic() + timeout
            while thread.is_alive() and time.monotonic() < deadline:
                await self._loop.run_in_executor(None, thread.join, 0.1)
                if not isinstance(self._source, AsyncIterableSource):
                    self._source.interrupt()  # it may have entered a blocking open since
            if thread.is_alive():
                log.warning("%s: the source thread is still blocked in a read; leaving it (daemon)", self.name)

    # -- on the event loop -----------------------------------------------------------------

    def _on_frame(self, item: SourceFrame) -> None:
        if self._closing:
            return
        self.frames += 1
        self._camera.add()
        if self.live:
            queued = sum(1 for x in self._inbox if isinstance(x, SourceFrame))
            if queued >= self._live_queue:
                self._drop_oldest_frame()
        self._inbox.append(item)
        self._arrived.set()

    def _drop_oldest_frame(self) -> None:
        for i, x in enumerate(self._inbox):
            if isinstance(x, SourceFrame):
                del self._inbox[i]
                self.dropped += 1
                self._skipped.add()
                return

    def _on_sampled(self, _: None) -> None:
        self.frames += 1
        self.sampled_out += 1
        self._camera.add()

    def _on_error(self, error: StreamcoreError) -> None:
        self.last_error = str(error)
        if not self._closing:
            self._inbox.append(StreamResult(self.name, "error", index=self.frames, error=error))
            self._arrived.set()

    def _set_state(self, state: str) -> None:
        if not self._finished.is_set():
            self.state = state

    def _on_reconnect(self, _: None) -> None:
        self.reconnects += 1

    def _on_end(self, error: Optional[StreamcoreError]) -> None:
        if error is not None:
            self.last_error = str(error)
        if not self._closing:
            self._inbox.append(StreamResult(self.name, "end", index=self.frames, error=error))
            self._arrived.set()

    async def _next_item(self) -> _Item:
        while not self._inbox:
            self._arrived.clear()
            await self._arrived.wait()
        return self._inbox.popleft()

    async def _dispatch(self) -> None:
        loop = self._loop
        while True:
            # Take a slot before taking a frame: a live frame waits in the inbox, where a
            # newer one can still replace it.
            await self._slots.acquire()
            item = await self._next_item()
            if isinstance(item, SourceFrame):
                self._process.add()
                self._ordered.put_nowait((loop.create_task(self._infer(item)), True))
                continue
            self._slots.release()
            done: "asyncio.Future[StreamResult]" = loop.create_future()
            done.set_result(item)
            self._ordered.put_nowait((done, False))
            if item.kind == "end":
                return

    def _count_format(self, frame: Any) -> None:
        # Per frame: an exact type check before av_format_name's call (which takes subclasses).
        name = frame.format.name if type(frame) is AvVideoFrame else av_format_name(frame)
        if name is None:  # a numpy image
            self.fused_frames += 1
            return
        self.pixel_format = name
        if name in NATIVE_AV_FORMATS:
            self.fused_frames += 1
            return
        self.reformatted_frames += 1
        if self.reformatted_frames == 1:
            log.info("%s: %s frames have no native preprocess path; each is converted to yuv420p "
                     "with swscale first (one copy per frame)", self.name, name)

    async def _infer(self, item: SourceFrame) -> StreamResult:
        record = StreamResult(self.name, "result", index=item.index, pts=item.pts, time=item.time,
                              captured_at=item.captured_wall)
        self._count_format(item.frame)
        try:
            result = await self._infer_frame(item.frame)
        except StreamcoreError as e:
            record.kind, record.error = "error", e
        except Exception as e:
            record.kind, record.error = "error", InferenceError(f"{self.name}: frame {item.index}: {e}")
        else:
            record.result, record.value = result, result.value
            self._invoke.add(result.timings.invoke_ms)
            if self._on_result is not None:
                self._on_result(result)
        if self._keep_frames:
            record.frame = item.frame
        record.latency_ms = (time.monotonic() - item.captured) * 1000.0
        return record

    async def _emit(self) -> None:
        while True:
            future, holds_frame = await self._ordered.get()
            record = await future
            if record.kind == "end":
                self._finish(record, block=True)
                await self._deliver(record)
                self._end_out = True
                return
            if holds_frame:
                self._slots.release()
            self._account(record, holds_frame)
            await self._deliver(record)
            if self._window is not None and holds_frame:
                self._window.release()

    def _account(self, record: StreamResult, holds_frame: bool) -> None:
        """Counts a result or error record as it is delivered."""
        if record.kind == "result":
            self.results_count += 1
            self._detection.add()
            if record.latency_ms is not None:
                self._latency.add(record.latency_ms)
            info = None if record.result is None else record.result.cascade
            if info is not None:
                self.objects += info.objects
                self.classified += info.classified
                self.object_errors += info.errors
                self.skipped_objects += info.skipped
            self.latest = record
        elif holds_frame:  # a frame that failed: it counts among the frames
            self.errors += 1
            self.last_error = str(record.error)
        else:  # a skipped packet: no frame came of it
            self.packet_errors += 1
            self.last_error = str(record.error)

    # -- lossless streams: submitted from the source thread ------------------------------

    def _take_seq(self) -> int:
        """On the source thread (lossless streams) or under _live_lock (live streams): the
        next sequence number."""
        seq = self._seq
        self._seq = seq + 1
        return seq

    def _submit_direct(self, item: SourceFrame) -> bool:
        """On the source thread: the frame goes to the engine now; its record comes back to
        the loop with the batch of completions it belongs to."""
        assert self._direct is not None
        seq = self._seq  # _take_seq, inline: per frame
        self._seq = seq + 1
        self._seen += 1
        try:
            self._direct(item.frame, functools.partial(self._done, seq, item))
        except Exception as e:  # refused at the submit (a bad frame, a closed engine): this frame's error
            self._sink.post(self._refused, (seq, item, e))
        return not self._sink.stopping.is_set()

    def _release_slots(self, n: int) -> None:
        """On the loop: `n` frames' records were delivered; their slots take the next frames."""
        if self._window is not None:
            self._window.release(n)
        elif self._live_direct:
            with self._live_lock:
                self._flying -= n
            self._dispatch_waiting(on_loop=True)

    def _submit_live(self, item: SourceFrame) -> bool:
        """On the source thread of a live stream: the frame goes to the engine now if a slot is
        free; otherwise it waits, and past ``live_queue`` waiting frames the oldest is dropped."""
        self._seen += 1
        dropped = 0
        with self._live_lock:
            waiting = self._waiting
            waiting.append(item)
            frames_waiting = sum(1 for x in waiting if isinstance(x, SourceFrame))
            if frames_waiting > self._live_queue and self._flying >= self._max_flying:
                for i, x in enumerate(waiting):
                    if isinstance(x, SourceFrame):
                        del waiting[i]
                        dropped = 1
                        break
        if dropped:
            self._sink.post(self._on_dropped, dropped)
        self._dispatch_waiting(on_loop=False)
        return not self._sink.stopping.is_set()

    def _record_in_place(self, record: StreamResult) -> None:
        """On the source thread: an error or end record, behind the frames that arrived before
        it (a live stream's may still be waiting for a slot)."""
        if not self._live_direct:
            self._sink.post(self._on_record_direct, (self._take_seq(), record))
            return
        with self._live_lock:
            self._waiting.append(record)
        self._dispatch_waiting(on_loop=False)

    def _dispatch_waiting(self, on_loop: bool) -> None:
        """Hands out sequence numbers, in arrival order, to what waits at the head: frames
        while slots are free, records at once. Frames are submitted; records go to the
        reorder buffer."""
        out: List[Tuple[int, _Item]] = []
        with self._live_lock:
            if self._closing:
                return
            waiting = self._waiting
            while waiting:
                head = waiting[0]
                if isinstance(head, SourceFrame):
                    if self._flying >= self._max_flying:
                        break
                    self._flying += 1
                waiting.popleft()
                out.append((self._take_seq(), head))
        assert self._direct is not None
        to_loop: Callable[[Callable[[Any], None], Any], object] = self._loop.call_soon if on_loop else self._sink.post
        for seq, item in out:
            if isinstance(item, StreamResult):
                to_loop(self._on_record_direct, (seq, item))
                continue
            try:
                self._direct(item.frame, functools.partial(self._done, seq, item))
            except Exception as e:  # refused at the submit: this frame's error, in its place
                to_loop(self._refused, (seq, item, e))

    def _on_dropped(self, n: int) -> None:
        self.frames += n
        self.dropped += n
        self._camera.add(n)
        self._skipped.add(n)

    def _refused(self, args: Tuple[int, SourceFrame, BaseException]) -> None:
        seq, item, error = args
        self._done(seq, item, None, error)

    def _done(self, seq: int, item: SourceFrame, result: Optional[Result], error: Optional[BaseException]) -> None:
        """On the loop: a frame submitted by the source thread is done."""
        if self._closing:
            return
        now = time.monotonic()
        self.frames += 1
        self._camera.add(1, now)
        self._process.add(1, now)
        self._count_format(item.frame)
        # positional (stream, kind, index, pts, time, captured_at): per frame
        record = StreamResult(self.name, "result", item.index, item.pts, item.time, item.captured_wall)
        if result is not None:
            record.result, record.value = result, result.value
            self._invoke.add(result.timings.invoke_ms)
            if self._on_result is not None:
                try:
                    self._on_result(result)
                except Exception:  # a stats hook's bug: the record is still delivered
                    log.exception("%s: on_result failed for frame %s", self.name, item.index)
        else:
            record.kind = "error"
            record.error = error if isinstance(error, StreamcoreError) else InferenceError(
                f"{self.name}: frame {item.index}: {error}")
        if self._keep_frames:
            record.frame = item.frame
        record.latency_ms = (now - item.captured) * 1000.0
        self._ready[seq] = (record, True)
        self._flush_soon()

    def _on_record_direct(self, args: Tuple[int, StreamResult]) -> None:
        seq, record = args
        if record.error is not None:
            self.last_error = str(record.error)
        if not self._closing:
            self._ready[seq] = (record, False)
            self._flush_soon()

    def _flush_soon(self) -> None:
        """Delivers on the loop's next iteration, once per batch: readers started in the same
        iteration as the completions (say, with gather() right after add_source) get every
        record, as with the loop path, whose first record took a few iterations."""
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_pending = False
        if not self._closing:
            self._flush()

    def _flush(self) -> None:
        """Delivers the done records that are next in order, without awaiting while every
        reader has room; otherwise a task delivers them as readers make room."""
        if self._emit_task is not None or self._next not in self._ready:
            return  # the task delivers these too, in order
        subscribers = self._all_subscribers()
        # How many records every reader can take now (bounded queues; 0 = unbounded).
        room = 0 if not subscribers and self._hub.wait_for_consumer else 1 << 30
        for q in subscribers:
            if q.maxsize > 0:
                room = min(room, q.maxsize - len(q.items))
        freed = 0
        while self._next in self._ready:
            if room <= 0:
                self._emit_task = self._loop.create_task(self._emit_ready(), name=f"sc-emit-{self.name}")
                self._emit_task.add_done_callback(self._task_done)
                break
            room -= 1
            record, holds_frame = self._take_next()
            for q in subscribers:
                q.put_nowait(record)
            if record.kind == "end":
                self._end_out = True
            freed += holds_frame
        if freed:
            self._release_slots(freed)  # once per batch: one lock, at most one wake-up

    async def _emit_ready(self) -> None:
        try:
            while self._next in self._ready:
                record, holds_frame = self._take_next()
                await self._deliver(record)
                if record.kind == "end":
                    self._end_out = True
                if holds_frame:
                    self._release_slots(1)
        finally:
            self._emit_task = None

    def _take_next(self) -> Tuple[StreamResult, bool]:
        """The next record in order, counted (or, the end record, finishing the stream)."""
        record, holds_frame = self._ready.pop(self._next)
        self._next += 1
        if record.kind == "end":
            self._finish(record, block=True)
        else:
            self._account(record, holds_frame)
        return record, holds_frame

    def _finish(self, record: StreamResult, block: bool) -> None:
        self.state = "ended"
        self.error = record.error
        self._end_record = record
        self._finished.set()
        if not block:
            for q in self._all_subscribers():
                try:
                    q.put_nowait(record)
                except asyncio.QueueFull:
                    pass
            self._end_out = True
        if self._on_finished is not None:
            self._on_finished(self)

    def _all_subscribers(self) -> List["RecordQueue[Optional[StreamResult]]"]:
        return self._subscribers + self._hub.subscribers

    async def _deliver(self, record: StreamResult) -> None:
        subscribers = self._all_subscribers()
        while not subscribers and self._hub.wait_for_consumer:
            await self._hub.subscriber_added()
            subscribers = self._all_subscribers()
        for q in subscribers:
            await q.put(record)

    # -- public ----------------------------------------------------------------------------

    async def results(self) -> AsyncIterator[StreamResult]:
        """This stream's records, in frame order, up to and including its end record."""
        if self._end_record is not None and self._finished.is_set() and not self._subscribers:
            yield self._end_record
            return
        q: "RecordQueue[Optional[StreamResult]]" = RecordQueue(self._hub.buffer)
        self._subscribers.append(q)
        self._hub.notify_subscriber()
        try:
            while True:
                record = await q.get()
                if record is None:
                    return
                yield record
                if record.kind == "end":
                    return
        finally:
            self._subscribers.remove(q)

    def stats(self) -> Dict[str, Any]:
        now = time.monotonic()
        out: Dict[str, Any] = {
            "url": self.url,
            "kind": self.kind,
            "live": self.live,
            "state": self.state,
            "camera_fps": round(self._camera.per_second(now), 2),
            "process_fps": round(self._process.per_second(now), 2),
            "detection_fps": round(self._detection.per_second(now), 2),
            "skipped_fps": round(self._skipped.per_second(now), 2),
            "inference_speed": _round(self._invoke.mean()),
            "latency_p50_ms": _round(self._latency.percentile(50)),
            "latency_p99_ms": _round(self._latency.percentile(99)),
            "frames": self.frames,
            "results": self.results_count,
            "dropped": self.dropped,
            "sampled_out": self.sampled_out,
            "fused_frames": self.fused_frames,
            "reformatted_frames": self.reformatted_frames,
            "pixel_format": self.pixel_format,
            "decoder": getattr(self._source, "decoder", None),
            "hwaccel_fallback": getattr(self._source, "hwaccel_fallback", None),
            "decode_skipped": getattr(self._source, "decode_skipped", 0),
            "errors": self.errors,
            "packet_errors": self.packet_errors,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
        }
        if self._cascade:
            out.update(objects=self.objects, classified=self.classified, object_errors=self.object_errors,
                       skipped_objects=self.skipped_objects)
        return out


class _SourceSink:
    """The Sink a stream's source reports to; every call from the source thread is handed
    to the event loop with call_soon_threadsafe."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream
        self.stopping = threading.Event()
        # Calls queue here; the loop is woken once per batch, not once per call.
        self._lock = threading.Lock()
        self._batch: List[Tuple[Callable[[Any], None], Any]] = []

    def frame(self, item: SourceFrame) -> bool:
        stream = self._stream
        if stream._window is not None and not stream._window.acquire_blocking(self.stopping):
            return False
        if stream._live_direct:
            return stream._submit_live(item)
        if stream._direct is not None:
            return stream._submit_direct(item)
        return self._post(stream._on_frame, item)

    async def frame_async(self, item: SourceFrame) -> bool:
        if self._stream._window is not None and not await self._stream._window.acquire(self.stopping):
            return False
        self._post(self._stream._on_frame, item)
        await asyncio.sleep(0)  # let the dispatcher run between frames of a fast iterator
        return not self.stopping.is_set()

    def sampled(self) -> None:
        if self._stream._direct is not None:
            self._stream._seen += 1
        self._post(self._stream._on_sampled, None)

    def error(self, error: StreamcoreError) -> None:
        stream = self._stream
        if stream._direct is not None:  # a skipped packet takes its place among the frames
            stream._record_in_place(StreamResult(stream.name, "error", index=stream._seen, error=error))
            return
        self._post(stream._on_error, error)

    def state(self, state: str) -> None:
        self._post(self._stream._set_state, state)

    def reconnecting(self) -> None:
        self._post(self._stream._on_reconnect, None)

    def end(self, error: Optional[StreamcoreError]) -> None:
        stream = self._stream
        if stream._direct is not None:
            stream._record_in_place(StreamResult(stream.name, "end", index=stream._seen, error=error))
            return
        self._post(stream._on_end, error)

    def post(self, callback: Callable[[Any], None], arg: Any) -> bool:
        return self._post(callback, arg)

    def _post(self, callback: Callable[[Any], None], arg: Any) -> bool:
        with self._lock:
            self._batch.append((callback, arg))
            wake = len(self._batch) == 1
        if wake:
            try:
                self._stream._loop.call_soon_threadsafe(self._run_batch)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                self.stopping.set()
                return False
        return not self.stopping.is_set()

    def _run_batch(self) -> None:
        with self._lock:
            batch, self._batch = self._batch, []
        for callback, arg in batch:
            callback(arg)


def _lower_priority(steps: int, idle: bool = False) -> None:
    """Runs this thread `steps` nice levels below the event loop's, so a busy decoder never
    delays the loop's wake-ups (Linux: per-thread nice). Not below the engine's workers:
    a decoder preempted while it holds the GIL would stall the loop (measured: nice 10
    tripled the loop's lag p99). With `idle`, SCHED_IDLE instead (Pipeline(decoder_idle=True))."""
    tid = threading.get_native_id()
    if idle and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            return
        except OSError:
            pass
    if steps <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + steps))
    except OSError:
        pass


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 3)
