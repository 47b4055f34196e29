"""Video sources: files, network URLs, V4L2 cameras (PyAV) and iterables of frames, and
``open_source``, which picks the source for what it is given."""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Optional, Union

from ..errors import InputError, SourceNotFoundError
from .av_source import SKIP_FRAMES, AvSource, LiveOptions
from .base import STATES, FrameGate, Sink, Source, SourceFrame
from .hwaccel import check_hwaccel, hwaccel_names
from .iterables import AsyncIterableSource, IterableSource, is_iterable_source
from .urls import redact, source_kind

AnySource = Union[AvSource, IterableSource, AsyncIterableSource]

__all__ = [
    "AnySource",
    "AvSource",
    "AsyncIterableSource",
    "FrameGate",
    "IterableSource",
    "LiveOptions",
    "STATES",
    "Sink",
    "Source",
    "SourceFrame",
    "check_hwaccel",
    "hwaccel_names",
    "is_iterable_source",
    "open_source",
    "redact",
    "source_kind",
]


def open_source(
    source: Any,
    name: Optional[str] = None,
    *,
    live: Optional[bool] = None,
    fps: Optional[float] = None,
    realtime: bool = False,
    live_options: Optional[LiveOptions] = None,
    format: Optional[str] = None,
    options: Optional[Dict[str, str]] = None,
    unique: Optional[Callable[[str], str]] = None,
    hwaccel: Optional[str] = None,
    skip_frames: str = "auto",
) -> AnySource:
    """The source for `source`: a file path (str or os.PathLike), a URL (rtsp://,
    http(s)://, udp://, ...) or a V4L2 device (/dev/videoN) read by PyAV, or a sync or async
    iterable of frames. Nothing is opened yet: the source opens when it runs.

    Files and iterables are lossless, URLs and cameras live, unless `live=` says otherwise.
    `fps` and `realtime` make its FrameGate; `live_options`, `format` and `options` go to
    PyAV sources. The source is named `name` (redacted), else after its location ("frames"
    for iterables), passed through `unique`. A file that does not exist raises
    SourceNotFoundError, anything else that cannot give frames InputError. `hwaccel` picks a
    hardware decoder for PyAV sources (see sources/hwaccel.py; InputError for a name PyAV
    does not know). `skip_frames` says what the decoder may leave out under an fps cap
    (SKIP_FRAMES; see AvSource).
    """
    hwaccel = check_hwaccel(hwaccel)
    if skip_frames not in SKIP_FRAMES:
        raise InputError(f"skip_frames={skip_frames!r}; use one of {', '.join(map(repr, SKIP_FRAMES))}")
    gate = FrameGate(fps, realtime)
    display_name = redact(name) if name is not None else None
    unique = unique or _same
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if isinstance(source, str):
        kind = source_kind(source)
        display_name = display_name or unique(_default_name(source))
        if kind == "file" and not os.path.exists(_strip_file_scheme(source)):
            raise SourceNotFoundError(f"no such file {redact(source)}; check the path")
        return AvSource(
            source,
            display_name,
            live if live is not None else kind != "file",
            gate,
            threads=1,
            live_options=live_options or LiveOptions(),
            format=format,
            options=dict(options or {}),
            hwaccel=hwaccel,
            skip_frames=skip_frames,
        )
    if hwaccel is not None and is_iterable_source(source):
        raise InputError(f"hwaccel={hwaccel!r} applies to files, URLs and cameras; an iterable gives decoded frames")
    if is_iterable_source(source):
        display_name = display_name or unique("frames")
        if hasattr(source, "__aiter__"):
            return AsyncIterableSource(source, display_name, bool(live), gate)
        return IterableSource(source, display_name, bool(live), gate)
    raise InputError(
        f"cannot read frames from a {type(source).__name__}; pass a path, a URL, /dev/videoN, "
        "or an iterable of frames"
    )


def _same(name: str) -> str:
    return name


def _strip_file_scheme(location: str) -> str:
    return location[len("file://"):] if location.startswith("file://") else location


def _default_name(location: str) -> str:
    text = redact(location).rstrip("/")
    base = os.path.basename(text.split("?", 1)[0]) or text
    return base.rsplit(".", 1)[0] if source_kind(location) == "file" and "." in base else base
