"""Video sources: files, network URLs, V4L2 cameras (PyAV) and iterables of frames."""

from __future__ import annotations

from .av_source import AvSource, LiveOptions
from .base import STATES, FrameGate, Sink, Source, SourceFrame
from .iterables import AsyncIterableSource, IterableSource, is_iterable_source
from .urls import redact, source_kind

__all__ = [
    "AvSource",
    "AsyncIterableSource",
    "FrameGate",
    "IterableSource",
    "LiveOptions",
    "STATES",
    "Sink",
    "Source",
    "SourceFrame",
    "is_iterable_source",
    "redact",
    "source_kind",
]
