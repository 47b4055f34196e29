"""Sources over iterables of frames (numpy images or av.VideoFrames): sync iterables run on
their own thread (they may block, e.g. reading a camera SDK); async ones on the event loop."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, AsyncIterable, Iterable, Optional, Protocol, Union

from ..errors import SourceError, StreamcoreError
from .base import FrameGate, Sink, SourceFrame

__all__ = ["IterableSource", "AsyncIterableSource", "is_iterable_source"]


def is_iterable_source(obj: Any) -> bool:
    return not isinstance(obj, (str, bytes)) and (hasattr(obj, "__aiter__") or hasattr(obj, "__iter__"))


def _item(index: int, frame: Any) -> SourceFrame:
    return SourceFrame(index, frame, None, None, time.monotonic(), time.time())


@dataclass
class IterableSource:
    frames: Iterable[Any]
    name: str
    live: bool
    gate: FrameGate
    url: str = "<iterable>"

    @property
    def kind(self) -> str:
        return "iterable"

    def interrupt(self) -> None:
        return None  # `run` watches sink.stopping between items

    def run(self, sink: Sink) -> None:
        sink.state("streaming")
        error: Optional[StreamcoreError] = None
        try:
            for index, frame in enumerate(self.frames):
                if sink.stopping.is_set():
                    break
                if not self.gate.admit(None):
                    sink.sampled()
                    continue
                if not sink.frame(_item(index, frame)):
                    break
        except Exception as e:  # the user's iterator failed: end the stream with it
            error = SourceError(f"{self.name}: the frame iterator raised {type(e).__name__}: {e}")
        sink.end(error)


@dataclass
class AsyncIterableSource:
    frames: AsyncIterable[Any]
    name: str
    live: bool
    gate: FrameGate
    url: str = "<async iterable>"

    @property
    def kind(self) -> str:
        return "iterable"

    async def run_async(self, sink: "AsyncSink") -> None:
        sink.state("streaming")
        error: Optional[StreamcoreError] = None
        index = 0
        try:
            async for frame in self.frames:
                if sink.stopping.is_set():
                    break
                if self.gate.admit(None):
                    if not await sink.frame_async(_item(index, frame)):
                        break
                else:
                    sink.sampled()
                index += 1
        except Exception as e:
            error = SourceError(f"{self.name}: the frame iterator raised {type(e).__name__}: {e}")
        sink.end(error)


class AsyncSink(Sink, Protocol):
    async def frame_async(self, item: SourceFrame) -> bool:
        """Waits for room (lossless streams) on the event loop; False once stopping."""
        raise NotImplementedError


AnyIterable = Union[Iterable[Any], AsyncIterable[Any]]
