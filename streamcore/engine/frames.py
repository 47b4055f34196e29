"""Turns PyAV frames and numpy arrays into zero-copy native frame views for preprocess.

The native kernel reads 4:2:0, 4:2:2 and 4:4:4 YUV (8- and 10-bit, JPEG full range included),
NV12/NV21/P010, packed RGB and 8/10/16-bit gray. Other PyAV formats are first converted with
``frame.reformat(format="yuv420p")`` (one copy, done by libswscale); ``is_native`` says which.
"""

from __future__ import annotations

import operator
from typing import Any, Optional

import numpy as np

from .. import _core
from ..types import TensorInfo
from ..errors import InputError

__all__ = ["to_frame_view", "av_frame_view", "check_tensor", "is_native", "av_format_name", "NATIVE_AV_FORMATS",
           "AvVideoFrame"]

# PyAV format name -> native format name.
_AV_FORMATS = {
    "yuv420p": "yuv420p",
    "yuvj420p": "yuvj420p",
    "yuv422p": "yuv422p",
    "yuvj422p": "yuvj422p",
    "yuv444p": "yuv444p",
    "yuvj444p": "yuvj444p",
    "yuv420p10le": "yuv420p10le",
    "yuv422p10le": "yuv422p10le",
    "yuv444p10le": "yuv444p10le",
    "p010le": "p010le",
    "gray10le": "gray10le",
    "gray16le": "gray16le",
    "nv12": "nv12",
    "nv21": "nv21",
    "rgb24": "rgb24",
    "bgr24": "bgr24",
    "rgba": "rgba",
    "bgra": "bgra",
    "gray": "gray8",
    "gray8": "gray8",
}
NATIVE_AV_FORMATS = frozenset(_AV_FORMATS)
_LINE_SIZE = operator.attrgetter("line_size")  # a plane's stride, read in C (no Python frame per plane)
_FULL_RANGE = ("yuvj420p", "yuvj422p", "yuvj444p")
_YUV = ("yuv420p", "yuvj420p", "i420", "nv12", "nv21")
# FFmpeg AVColorSpace values (libavutil/pixfmt.h).
_AVCOL_SPC_BT709 = 1
_AVCOL_SPC_BT601 = (5, 6)  # BT470BG, SMPTE170M
# FFmpeg AVColorRange values.
_AVCOL_RANGE_MPEG = 1
_AVCOL_RANGE_JPEG = 2

try:
    import av

    _VideoFrame: Any = av.VideoFrame
except ImportError:  # PyAV is optional for numpy-only users
    _VideoFrame = None
AvVideoFrame: Any = _VideoFrame  # av.VideoFrame, or None without PyAV (for exact type checks)


def to_frame_view(
    frame: Any,
    *,
    format: Optional[str] = None,
    matrix: Optional[str] = None,
    range: Optional[str] = None,
) -> _core.FrameView:
    """Borrows `frame` (an ``av.VideoFrame`` or a uint8 numpy array) as a native FrameView.

    numpy: HxWx3 is rgb24 (``format="bgr24"`` for BGR), HxWx4 rgba (or ``"bgra"``), HxW gray8,
    and an (H*3//2, W) array with ``format="yuv420p"`` or ``"nv12"``/``"nv21"`` is split into
    planes without copying. `matrix` ("bt601"/"bt709") and `range` ("limited"/"full") override
    what the frame says; unspecified YUV is BT.709 from 720 lines up, else BT.601.
    """
    if format is not None or matrix is not None or range is not None:  # the per-frame path has none
        for option, value in (("format", format), ("matrix", matrix), ("range", range)):
            if value is not None and not isinstance(value, str):
                raise InputError(f"{option}={value!r}; pass a string (or leave it out)")
    try:
        if _VideoFrame is not None and isinstance(frame, _VideoFrame):
            return _from_av(frame, format, matrix, range)
        if isinstance(frame, np.ndarray):
            return _from_array(frame, format, matrix, range)
    except (TypeError, OverflowError, AttributeError) as e:
        # A frame whose attributes or sizes the native view cannot take (pybind11's TypeError
        # for an int past 32 bits, say): the caller's data, so an InputError saying which.
        raise InputError(
            f"cannot make a frame of this {type(frame).__name__} ({type(e).__name__}: {str(e).splitlines()[0]}); "
            "pass an av.VideoFrame or a uint8 numpy array of at most 65536 pixels a side"
        ) from None
    raise InputError(
        f"cannot preprocess a {type(frame).__name__}; pass an av.VideoFrame or a uint8 numpy array "
        "(HxWx3 RGB, HxWx4 RGBA, HxW gray, or (H*3//2)xW yuv420p/nv12 with format=...)"
    )


def av_frame_view(frame: Any) -> _core.FrameView:
    """to_frame_view of an ``av.VideoFrame`` with no options: the per-frame path, one call less."""
    try:
        return _from_av(frame, None, None, None)
    except (TypeError, OverflowError, AttributeError):
        return to_frame_view(frame)  # to_frame_view's message for a frame the view cannot take


def av_format_name(frame: Any) -> Optional[str]:
    """The PyAV pixel format name of an ``av.VideoFrame``; None for anything else."""
    if _VideoFrame is not None and isinstance(frame, _VideoFrame):
        return str(frame.format.name)
    return None


def is_native(frame: Any) -> bool:
    """Whether `frame` reaches the kernel without a swscale copy (numpy arrays always do)."""
    name = av_format_name(frame)
    return name is None or name in _AV_FORMATS


def _default_matrix(height: int) -> str:
    return "bt709" if height >= 720 else "bt601"


def _from_av(frame: Any, format: Optional[str], matrix: Optional[str], range: Optional[str]) -> _core.FrameView:
    name = frame.format.name
    if name not in _AV_FORMATS:
        frame = frame.reformat(format="yuv420p")
        name = "yuv420p"
    fmt = format or _AV_FORMATS[name]
    if matrix is None:
        spc = frame.colorspace
        if spc == _AVCOL_SPC_BT709:
            matrix = "bt709"
        elif spc in _AVCOL_SPC_BT601:
            matrix = "bt601"
        else:
            matrix = _default_matrix(frame.height)
    if range is None:
        color_range = frame.color_range
        if color_range == _AVCOL_RANGE_JPEG:
            range = "full"
        elif color_range == _AVCOL_RANGE_MPEG:
            range = "limited"
        else:
            range = "full" if fmt in _FULL_RANGE else "limited"
    planes = frame.planes
    # Positional: pybind11 matches keyword arguments by name, per call.
    return _core.FrameView(fmt, frame.width, frame.height, planes, list(map(_LINE_SIZE, planes)), matrix, range)


def _from_array(
    array: "np.ndarray[Any, Any]", format: Optional[str], matrix: Optional[str], range: Optional[str]
) -> _core.FrameView:
    if array.dtype != np.uint8:
        raise InputError(f"frame arrays must be uint8, got {array.dtype}; convert with array.astype(np.uint8)")
    if array.ndim == 3:
        height, width, channels = array.shape
        if channels not in (3, 4):
            raise InputError(f"a HxWxC frame needs 3 (RGB/BGR) or 4 (RGBA/BGRA) channels, got {channels}")
        fmt = format or ("rgb24" if channels == 3 else "rgba")
        if fmt not in (("rgb24", "bgr24") if channels == 3 else ("rgba", "bgra")):
            raise InputError(f"format {fmt!r} does not fit a HxWx{channels} array")
        return _core.FrameView(fmt, width, height, [array], matrix=matrix or "bt601", range=range)
    if array.ndim != 2:
        raise InputError(
            f"frame arrays must be HxW, HxWx3 or HxWx4, got shape {array.shape}; "
            "pass one video frame at a time"
        )
    fmt = format or "gray8"
    if fmt in ("gray8", "gray"):
        height, width = array.shape
        return _core.FrameView("gray8", width, height, [array], matrix=matrix or "bt601", range=range)
    if fmt not in _YUV:
        raise InputError(f"format {fmt!r} does not fit a 2-D array; use gray8, yuv420p or nv12/nv21")
    rows, width = array.shape
    height = rows * 2 // 3
    if rows != height + (height + 1) // 2 or height <= 0 or width <= 0:
        raise InputError(f"a {fmt} array must be shaped (H*3//2, W) with H, W > 0, got {array.shape}")
    chroma_h, chroma_w = (height + 1) // 2, (width + 1) // 2
    y = array[:height]
    chroma = array[height:]
    if fmt in ("nv12", "nv21"):
        planes = [y, chroma]
    else:
        if width % 2:
            raise InputError("a packed yuv420p array needs an even width; pass the three planes to FrameView")
        # I420 chroma rows are W/2 wide: two per array row.
        quarter = chroma.reshape(-1, chroma_w) if chroma.flags.c_contiguous else np.ascontiguousarray(chroma).reshape(-1, chroma_w)
        planes = [y, quarter[:chroma_h], quarter[chroma_h : 2 * chroma_h]]
    range_ = range or ("full" if fmt == "yuvj420p" else "limited")
    return _core.FrameView(fmt, width, height, planes, matrix=matrix or _default_matrix(height), range=range_)


def check_tensor(tensor: Any, info: TensorInfo) -> None:
    """Checks a raw tensor for ``infer_tensor``: a numpy array must have the input's dtype and
    shape (a leading batch of 1 may be left out); any other buffer (bytes, memoryview, a zmq
    frame) is taken as the input's bytes, and the native core checks its size."""
    if isinstance(tensor, np.ndarray):
        shape = [int(d) for d in info.shape]
        if tensor.dtype != np.dtype(info.dtype):
            raise InputError(
                f"the tensor is {tensor.dtype}; the model input is {np.dtype(info.dtype).name} {shape}"
            )
        if list(tensor.shape) != shape and [1, *tensor.shape] != shape:
            raise InputError(f"the tensor has shape {list(tensor.shape)}; the model input is {shape}")
        if not tensor.flags.c_contiguous:
            raise InputError("the tensor must be C-contiguous; pass np.ascontiguousarray(tensor)")
