"""Files, network URLs and V4L2 cameras, demuxed and decoded by PyAV on a source thread.

libavcodec runs with the GIL released; this thread only holds it to move packets and
frames. Live sources reopen with exponential backoff when they close or stall.
"""

from __future__ import annotations

import heapq
import logging
import math
import os
import stat
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import av
import av.error

from ..errors import (
    DecodeError,
    SourceError,
    SourceNotFoundError,
    SourceTimeoutError,
    StreamcoreError,
    UnsupportedSourceError,
)
from .base import FrameGate, Sink, SourceFrame
from .hwaccel import m2m_decoder, open_candidates
from .urls import redact, scheme, source_kind

__all__ = ["AvSource", "LiveOptions", "SKIP_FRAMES"]

# skip_frames= values: what the decoder may leave undecoded when the fps cap samples frames out.
SKIP_FRAMES = ("auto", "nonref", "keyframes", "none")

log = logging.getLogger("streamcore.sources")


@dataclass
class LiveOptions:
    """Timeouts and reconnect policy of a live source (seconds)."""

    open_timeout: float = 10.0
    stall_timeout: float = 10.0  # no frame for this long: reopen
    reconnect: bool = True
    max_reconnects: Optional[int] = None  # None: forever
    reconnect_delay: float = 0.5  # first backoff; doubles per failure
    max_reconnect_delay: float = 30.0


@dataclass
class AvSource:
    location: str
    name: str
    live: bool
    gate: FrameGate
    threads: int = 1
    live_options: LiveOptions = field(default_factory=LiveOptions)
    format: Optional[str] = None
    options: Dict[str, str] = field(default_factory=dict)
    hwaccel: Optional[str] = None  # checked by hwaccel.check_hwaccel
    # "auto": non-reference frames are not decoded when an fps cap below the stream's rate is set;
    # "nonref" always, "keyframes" keyframes only, "none" every frame.
    skip_frames: str = "auto"
    decode_skipped: int = field(default=0, init=False)  # frames the decoder left out (sampled out)
    # What decodes (read by the stream's stats): "software", a device type or a decoder name,
    # and why a requested hwaccel fell back to software (None when it did not).
    decoder: str = field(default="software", init=False)
    hwaccel_fallback: Optional[str] = field(default=None, init=False)
    # Frames of earlier connections: a live stream's indices go on across reconnects.
    _offset: int = field(default=0, init=False)
    _decoder_ctx: Any = field(default=None, init=False)  # a v4l2m2m decoder, else the stream's own
    # While the decoder skips frames, indices come from packet timestamps: the pts of every
    # packet demuxed and not yet matched by a decoded frame (a min-heap), and the next index.
    _skipping: bool = field(default=False, init=False)
    _skip_each: bool = field(default=False, init=False)  # "auto": skip_frame decided per packet
    _skip_now: str = field(default="DEFAULT", init=False)
    _pending_pts: List[int] = field(default_factory=list, init=False)
    _display: int = field(default=0, init=False)

    @property
    def url(self) -> str:
        return redact(self.location)

    @property
    def kind(self) -> str:
        """"file", "network" or "v4l2"."""
        return source_kind(self.location)

    def interrupt(self) -> None:
        """A FIFO with no writer blocks FFmpeg's open(2) in the kernel, out of reach of the
        interrupt callback: opening its write end (and closing it) lets that open return and
        the read see EOF, so the decoder thread ends with the stream."""
        path = self.location[len("file://"):] if self.location.startswith("file://") else self.location
        try:
            if source_kind(self.location) == "file" and stat.S_ISFIFO(os.stat(path).st_mode):
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass  # no reader has it open (ENXIO), or it is gone: nothing is blocked on it

    # -- the source thread ---------------------------------------------------------------

    def run(self, sink: Sink) -> None:
        failures = 0
        opened_once = False
        while not sink.stopping.is_set():
            sink.state("connecting" if not opened_once and failures == 0 else "reconnecting")
            outcome: Optional[StreamcoreError]
            frames = 0
            try:
                container = self._open(reconnecting=opened_once)
            except SourceError as e:
                outcome = e
            else:
                opened_once = True
                self.gate.restart()  # a new connection restarts its timestamps
                try:
                    frames, outcome = self._decode(container, sink)
                finally:
                    container.close()
                self._offset += frames
            if sink.stopping.is_set():
                break
            if not self.live:
                sink.end(outcome)
                return
            if frames:
                failures = 0
            failures += 1
            opts = self.live_options
            if not opts.reconnect or (opts.max_reconnects is not None and failures > opts.max_reconnects):
                sink.end(outcome or SourceError(f"{self.url} closed the stream"))
                return
            if outcome is not None:
                sink.error(outcome)
            delay = min(opts.max_reconnect_delay, opts.reconnect_delay * 2 ** (failures - 1))
            log.info("%s: reconnecting to %s in %.1fs (%s)", self.name, self.url, delay, outcome or "stream closed")
            sink.state("reconnecting")
            sink.reconnecting()
            if sink.stopping.wait(delay):
                break
        sink.end(None)

    def _open(self, reconnecting: bool = False) -> Any:
        kind = source_kind(self.location)
        path = self.location[len("file://"):] if self.location.startswith("file://") else self.location
        if kind in ("file", "v4l2") and not os.path.exists(path):
            what = "camera" if kind == "v4l2" else "file"
            raise SourceNotFoundError(f"{self.name}: no such {what} {self.url}; check the path")
        options = dict(self.options)
        fmt = self.format
        if kind == "v4l2":
            fmt = fmt or "v4l2"
        if scheme(self.location) in ("rtsp", "rtsps"):
            options.setdefault("rtsp_transport", "tcp")
        networked = self.live or kind == "network"  # a file over HTTP can hang too
        timeout = (self.live_options.open_timeout, self.live_options.stall_timeout) if networked else None
        started = time.monotonic()
        try:
            container = self._open_decoding(path, fmt, options, timeout)
        except av.error.FileNotFoundError:
            raise SourceNotFoundError(f"{self.name}: no such file {self.url}; check the path") from None
        except av.error.FFmpegError as e:
            # An interrupted open surfaces as whatever the demuxer made of it (EXIT, EOF,
            # invalid data): the clock tells a timeout apart.
            timed_out = networked and time.monotonic() - started >= 0.9 * self.live_options.open_timeout
            if timed_out or isinstance(e, (av.error.ExitError, av.error.TimeoutError)):
                raise SourceTimeoutError(
                    f"{self.name}: {self.url} did not answer within {self.live_options.open_timeout:g}s; "
                    "check that the camera or server is up and reachable (open_timeout=)"
                ) from None
            raise self._open_error(e, networked, reconnecting) from None
        except OSError as e:
            raise SourceError(f"{self.name}: cannot open {self.url}: {redact(str(e))}") from None
        try:
            self._configure(container)
        except BaseException:
            container.close()
            raise
        return container

    def _open_decoding(self, path: str, fmt: Optional[str], options: Dict[str, str], timeout: Any) -> Any:
        """av.open on the first hardware device that takes the stream, else in software."""
        failures = []
        candidates = open_candidates(self.hwaccel) if self.hwaccel_fallback is None else []
        for device, accel in candidates:
            try:
                container = av.open(path, mode="r", format=fmt, options=options, timeout=timeout, hwaccel=accel)
            except (av.error.FileNotFoundError, av.error.ExitError, av.error.TimeoutError):
                raise  # the source itself failed: no point trying it in software
            except (av.error.FFmpegError, RuntimeError, NotImplementedError, OSError, ValueError) as e:
                failures.append(f"{device}: {redact(str(e)) or type(e).__name__}")
                continue
            self.decoder = device
            return container
        container = av.open(path, mode="r", format=fmt, options=options, timeout=timeout)
        if candidates or (self.hwaccel not in (None, "v4l2m2m") and self.hwaccel_fallback is None):
            self._fall_back("; ".join(failures) or "this FFmpeg build has no hardware device type")
        return container

    def _fall_back(self, why: str) -> None:
        self.decoder = "software"
        if self.hwaccel_fallback is None:
            log.warning("%s: hwaccel=%s is not available (%s); decoding in software", self.name, self.hwaccel, why)
        self.hwaccel_fallback = why

    def _open_error(self, e: Exception, networked: bool = False, reconnecting: bool = False) -> SourceError:
        if isinstance(e, av.error.InvalidDataError) and networked:
            # A server that accepts and then closes or refuses mid-handshake looks like bad data
            # to the demuxer; after a stream has played, that is a connection failure.
            if reconnecting:
                return SourceError(
                    f"{self.name}: reconnecting to {self.url} failed: the server closed or refused the "
                    "connection during its handshake; retrying"
                )
            return SourceError(
                f"{self.name}: {self.url} sent no video FFmpeg can read: the server closed or refused the "
                "connection during its handshake, or it does not serve video"
            )
        if isinstance(e, av.error.InvalidDataError):
            return UnsupportedSourceError(
                f"{self.name}: {self.url} is not a video FFmpeg can read (empty, truncated before its "
                "header, or not a media file)"
            )
        return SourceError(f"{self.name}: cannot open {self.url}: {redact(str(e))}")

    def _configure(self, container: Any) -> None:
        if not container.streams.video:
            raise UnsupportedSourceError(f"{self.name}: {self.url} has no video track")
        stream = container.streams.video[0]
        codec = stream.codec_context
        if codec is None or codec.name in (None, "", "none"):
            raise UnsupportedSourceError(
                f"{self.name}: {self.url} has a video codec this FFmpeg build cannot decode; "
                "re-encode it (e.g. to H.264)"
            )
        stream.thread_type = "SLICE" if self.live else "AUTO"
        codec.thread_count = max(1, self.threads)
        self._decoder_ctx = None
        mode = self._skip_mode(stream)
        self._skipping = mode is not None
        self._skip_each = self.skip_frames == "auto" and mode is not None
        self._pending_pts, self._display = [], 0
        self._skip_now = "DEFAULT" if self._skip_each else (mode or "DEFAULT")
        codec.skip_frame = self._skip_now
        if self.hwaccel == "v4l2m2m" and self.hwaccel_fallback is None:
            decoder, why = m2m_decoder(stream)
            if decoder is None:
                self._fall_back(why)
            else:
                self._decoder_ctx = decoder
                self.decoder = str(decoder.name)

    def _skip_mode(self, stream: Any) -> Optional[str]:
        """The decoder's skip_frame setting (None: decode every frame). Under "auto" it applies
        only to packets whose frame the fps cap will certainly leave out (_skip_packet), so the
        frames kept are exactly those kept without skipping."""
        if self.skip_frames == "keyframes":
            return "NONKEY"
        if self.skip_frames == "nonref":
            return "NONREF"
        if self.skip_frames == "auto" and self.gate.fps is not None:
            rate = stream.average_rate or stream.guessed_rate
            if rate is None or float(rate) > self.gate.fps:
                return "NONREF"
        return None

    def _index_of(self, frame: Any, sink: Sink) -> int:
        """A decoded frame's display index while the decoder skips: every pending packet pts
        below this frame's is a frame the decoder left out (counted as sampled out)."""
        pending = self._pending_pts
        pts = frame.pts
        if pts is not None:
            while pending and pending[0] < pts:
                heapq.heappop(pending)
                self._skipped(sink)
            if pending and pending[0] == pts:
                heapq.heappop(pending)
        index = self._display
        self._display += 1
        return index

    def _skipped(self, sink: Sink) -> None:
        self._display += 1
        self.decode_skipped += 1
        sink.sampled()

    def _decode(self, container: Any, sink: Sink) -> "tuple[int, Optional[StreamcoreError]]":
        """Decodes until the end, a stall or stop. Returns (frames decoded, why it ended)."""
        stream = container.streams.video[0]
        declared = int(stream.frames or 0)
        index = 0
        lost = 0
        outcome: Optional[StreamcoreError] = None
        last_frame = time.monotonic()
        sink.state("streaming")
        packets = container.demux(stream)
        # A read that outlasted the read timeout was interrupted. RTSP's demuxer answers the
        # first interrupt with the frame it still held (it waits for the next packet to know a
        # frame is complete) and only the second with an error: without this check a stall
        # showed up after twice stall_timeout.
        interrupted_after = 0.95 * self.live_options.stall_timeout if self.live or self.kind == "network" else None
        while not sink.stopping.is_set():
            try:
                asked = time.monotonic()
                packet = next(packets)
                waited = time.monotonic() - asked
            except StopIteration:
                break
            except (av.error.ExitError, av.error.TimeoutError):
                sink.state("stalled")
                outcome = SourceTimeoutError(
                    f"{self.name}: no data from {self.url} for {self.live_options.stall_timeout:g}s (stall_timeout=)"
                )
                break
            except (av.error.FFmpegError, OSError) as e:
                outcome = (DecodeError if not self.live else SourceError)(
                    f"{self.name}: reading {self.url} failed after {index} frames: {redact(str(e))}"
                )
                break
            if packet.size == 0 and packet.dts is None:
                continue  # demux's own flush packet; the decoder is flushed below
            if self._skipping:
                if packet.pts is None and index == 0 and not self._pending_pts:
                    self._stop_skipping(stream)  # no timestamps to keep true indices with
                elif packet.pts is not None:
                    heapq.heappush(self._pending_pts, packet.pts)
                    if self._skip_each:
                        self._skip_packet(stream, packet)
            try:
                frames = packet.decode() if self._decoder_ctx is None else self._decoder_ctx.decode(packet)
            except (av.error.FFmpegError, ValueError) as e:
                lost += 1
                if self._skipping and packet.pts in self._pending_pts:  # no frame will come of it
                    self._pending_pts.remove(packet.pts)
                    heapq.heapify(self._pending_pts)
                sink.error(DecodeError(f"{self.name}: skipped a packet that does not decode "
                                       f"(after frame {index - 1}): {redact(str(e))}"))
                continue
            for frame in frames:
                last_frame = time.monotonic()
                at = self._index_of(frame, sink) if self._skipping else index
                if not self._emit(sink, frame, at):
                    return self._frames_seen(index), None
                index += 1
            if interrupted_after is not None and waited >= interrupted_after:
                sink.state("stalled")
                outcome = SourceTimeoutError(
                    f"{self.name}: no data from {self.url} for {self.live_options.stall_timeout:g}s (stall_timeout=)"
                )
                break
            if self.live and time.monotonic() - last_frame > self.live_options.stall_timeout:
                sink.state("stalled")
                outcome = SourceTimeoutError(
                    f"{self.name}: {self.url} sent data but no frame for {self.live_options.stall_timeout:g}s"
                )
                break
        index = self._flush(stream, sink, index)
        if self._skipping and not sink.stopping.is_set():
            while self._pending_pts:  # frames after the last decoded one were left out too
                heapq.heappop(self._pending_pts)
                self._skipped(sink)
        index = self._frames_seen(index)
        if outcome is None and not self.live and declared and index + lost < declared and not sink.stopping.is_set():
            outcome = DecodeError(
                f"{self.name}: {self.url} ended after {index} of its {declared} frames; "
                "the file is truncated or damaged"
            )
        return index, outcome

    def _skip_packet(self, stream: Any, packet: Any) -> None:
        """NONREF for a packet whose frame comes before the gate's next slot, else DEFAULT
        (a reference frame is decoded either way: later frames depend on it)."""
        base = packet.time_base
        t = float(packet.pts * base) if base is not None else None
        want = "NONREF" if self.gate.rejects(t) else "DEFAULT"
        if want != self._skip_now:
            (self._decoder_ctx or stream.codec_context).skip_frame = want
            self._skip_now = want

    def _stop_skipping(self, stream: Any) -> None:
        self._skipping = False
        (self._decoder_ctx or stream.codec_context).skip_frame = "DEFAULT"
        log.info("%s: %s has no packet timestamps; decoding every frame to keep true frame indices",
                 self.name, self.url)

    def _frames_seen(self, decoded: int) -> int:
        """Frames of this connection so far: decoded ones, or (skipping) decoded and left out."""
        return self._display if self._skipping else decoded

    def _flush(self, stream: Any, sink: Sink, index: int) -> int:
        try:
            remaining = (self._decoder_ctx or stream.codec_context).decode(None)
        except (av.error.FFmpegError, ValueError):
            return index
        for frame in remaining:
            if frame.time_base is None and stream.time_base is not None:
                # Frames drained from the decoder carry no time base (PyAV sets it per
                # packet), so their time would be NaN: they are on the stream's clock.
                frame.time_base = stream.time_base
            at = self._index_of(frame, sink) if self._skipping else index
            if not self._emit(sink, frame, at):
                break
            index += 1
        return index

    def _emit(self, sink: Sink, frame: Any, index: int) -> bool:
        stream_time = _frame_time(frame)
        if not self.gate.admit(stream_time):
            sink.sampled()
            return True
        self.gate.pace(stream_time, sink.stopping)
        return sink.frame(SourceFrame(self._offset + index, frame, frame.pts, stream_time, time.monotonic(), time.time()))


def _frame_time(frame: Any) -> Optional[float]:
    """The frame's time in seconds, or None when it has none (never NaN)."""
    if frame.pts is None or frame.time_base is None:
        return None
    t = float(frame.pts * frame.time_base)
    return t if math.isfinite(t) else None
