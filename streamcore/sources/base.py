"""What a source hands to the pipeline, and the contract between a source and its consumer.

A source runs on its own thread (or, for async iterables, on the event loop) and reports
through a `Sink`: each decoded frame, each skipped packet, state changes, and one final end.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Optional, Protocol

from ..errors import StreamcoreError

__all__ = ["SourceFrame", "Sink", "Source", "FrameGate", "STATES"]

# Live sources move between these; files go connecting -> streaming -> ended.
STATES = ("connecting", "streaming", "stalled", "reconnecting", "ended")


@dataclass
class SourceFrame:
    index: int  # position in the stream, counting every decoded frame (kept or not)
    frame: Any  # av.VideoFrame or numpy image
    pts: Optional[int]
    time: Optional[float]  # seconds in the stream's own clock
    captured: float  # time.monotonic() when decoded
    captured_wall: float  # time.time() when decoded


class Sink(Protocol):
    """Where a source delivers. `frame` blocks while a lossless stream's window is full and
    returns False once the consumer wants the source to stop."""

    stopping: threading.Event

    def frame(self, item: SourceFrame) -> bool: ...

    def sampled(self) -> None: ...  # a frame left out by the fps cap

    def error(self, error: StreamcoreError) -> None: ...  # recorded in order; the stream goes on

    def state(self, state: str) -> None: ...

    def reconnecting(self) -> None: ...

    def end(self, error: Optional[StreamcoreError]) -> None: ...


class Source(Protocol):
    name: str
    url: str  # display form, credentials redacted
    live: bool

    @property
    def kind(self) -> str: ...  # "file", "network", "v4l2" or "iterable"

    def run(self, sink: Sink) -> None: ...

    def interrupt(self) -> None:
        """Called once `sink.stopping` is set: unblocks a `run` stuck in a call that does
        not watch it (an open(2) on a FIFO with no writer). May do nothing."""
        ...


class FrameGate:
    """The `fps=` cap (keeps a frame when its time reaches the next slot) and `realtime=`
    pacing (sleeps until a frame's stream time has passed on the wall clock)."""

    def __init__(self, fps: Optional[float], realtime: bool) -> None:
        if fps is not None and fps <= 0:
            from ..errors import InputError

            raise InputError(f"fps={fps}; give a positive frame rate cap, or None for every frame")
        self.fps = fps
        self.realtime = realtime
        self._next_slot: Optional[float] = None
        self._origin: Optional[float] = None  # (wall - stream time) at the first frame

    def restart(self) -> None:
        self._next_slot = None
        self._origin = None

    def admit(self, stream_time: Optional[float]) -> bool:
        if self.fps is None:
            return True
        t = time.monotonic() if stream_time is None else stream_time
        if self._next_slot is None or t >= self._next_slot - 1e-6:
            period = 1.0 / self.fps
            # Slots advance from the previous one so the kept rate is the cap, not less.
            base = t if self._next_slot is None or t - self._next_slot > period else self._next_slot
            self._next_slot = base + period
            return True
        return False

    def rejects(self, stream_time: Optional[float]) -> bool:
        """True when a frame at `stream_time` will certainly not be kept: it lies before the next
        slot, which only moves forward (until restart)."""
        return self.fps is not None and stream_time is not None and self._next_slot is not None and \
            stream_time < self._next_slot - 1e-6

    def pace(self, stream_time: Optional[float], stopping: threading.Event) -> None:
        if not self.realtime or stream_time is None:
            return
        now = time.monotonic()
        if self._origin is None:
            self._origin = now - stream_time
            return
        delay = self._origin + stream_time - now
        if delay > 0:
            stopping.wait(delay)
