"""Semantic segmentation: a class per pixel, as pycoral's ``segment`` adapter gives it.

Two output styles are read, from one output (``output=``, default 0):

- a class map ``[1, H, W]`` (or ``[1, H, W, 1]``) of integers: the argmax is inside the model,
  as in Coral's ``deeplabv3_mnv2_pascal_quant.tflite`` (int64 ``ArgMax``);
- per-class scores ``[1, H, W, C]`` (C >= 2, float or quantized): the argmax is taken here,
  over the raw values (dequantizing keeps the order); equal scores pick the lower class id;
- a single probability channel ``[1, H, W, 1]`` (float or quantized): class 1 where the real
  value is at least ``threshold``, else 0 (person/background models).

The mask is on the model's output grid, which spans the model input. ``to_frame=True`` maps
it back to frame pixels (nearest neighbour, undoing letterbox, crop and ROI with the
``Geometry`` of the result); frame pixels the model did not see (outside the ROI or crop) hold
``Segmentation.outside``. ``fractions`` always count only the part of the mask that came from
the frame (the letterbox padding is left out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError, ModelError
from ..types import Geometry, Result, TensorInfo
from .labels import LabelsArg, as_label_map

__all__ = ["Segment", "Segmentation", "get_mask", "class_fractions", "to_frame_mask"]


@dataclass(frozen=True, eq=False)  # eq would compare masks elementwise
class Segmentation:
    """One frame's segmentation.

    ``mask``: the class id of each pixel, uint8 (up to 255 classes; 255 is ``outside``) or
    uint16; [H, W] of the model's output grid, or [frame height, frame width] with
    ``in_frame``. ``fractions``: {class id: share of the frame's pixels}, classes present
    only, ids ascending. In JSON (``to_json``) the mask is summarised, never written out."""

    mask: NDArray[Any] = field(repr=False)
    fractions: Dict[int, float]
    in_frame: bool = False
    outside: int = 255  # mask value of frame pixels outside the ROI or crop (frame masks only)
    labels: Optional[Mapping[int, str]] = field(default=None, repr=False, compare=False)

    def label(self, class_id: int) -> Optional[str]:
        return self.labels.get(class_id) if self.labels else None

    def label_fractions(self) -> Dict[str, float]:
        """{label: fraction}; a class without a label (or sharing its label) is keyed by its id."""
        names = [self.label(i) for i in self.fractions]
        out: Dict[str, float] = {}
        for (class_id, fraction), name in zip(self.fractions.items(), names):
            unique = name is not None and names.count(name) == 1
            out[name if unique and name is not None else str(class_id)] = fraction
        return out

    def to_json(self) -> Dict[str, Any]:
        return {
            "mask": {"height": int(self.mask.shape[0]), "width": int(self.mask.shape[1]),
                     "space": "frame" if self.in_frame else "model"},
            "classes": [{"id": i, "label": self.label(i), "fraction": round(f, 6)}
                        for i, f in self.fractions.items()],
        }


def get_mask(output: NDArray[Any], info: Optional[TensorInfo] = None, threshold: float = 0.5) -> NDArray[Any]:
    """The [H, W] class map of a segmentation output (pycoral's ``segment.get_output``
    followed by its example's argmax), as int64. See the module docstring for the styles."""
    array = np.asarray(output)
    shape = list(array.shape)
    if array.ndim == 4 and shape[0] == 1:
        array = array[0]
    elif array.ndim == 3 and shape[0] == 1:
        array = array[0][..., np.newaxis]
    else:
        raise _not_segmentation(f"output has shape {shape}")
    height, width, channels = array.shape
    if height < 2 or width < 2 or channels < 1:
        raise _not_segmentation(f"output has shape {shape}")
    quantized = info is not None and info.quantized
    if channels > 1:
        if not (np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.complexfloating)):
            raise _not_segmentation(f"output is {array.dtype}")
        # np.argmax takes the first maximum; NaN scores win it, so they are ranked lowest here.
        if np.issubdtype(array.dtype, np.floating) and np.isnan(array).any():
            array = np.where(np.isnan(array), -np.inf, array)
        classes: NDArray[Any] = np.argmax(array, axis=-1).astype(np.int64)
        return classes
    plane = array[..., 0]
    if np.issubdtype(plane.dtype, np.integer) and not quantized:
        if plane.size and int(plane.min()) < 0:
            raise ModelError(f"the class map holds class id {int(plane.min())}; class ids cannot be negative")
        class_map: NDArray[Any] = plane.astype(np.int64)
        return class_map
    if np.issubdtype(plane.dtype, np.floating) or quantized:
        real = info.dequantize(plane) if info is not None and quantized else plane.astype(np.float32)
        return (real >= threshold).astype(np.int64)  # NaN is background
    raise _not_segmentation(f"output is {array.dtype}")


def class_fractions(mask: NDArray[Any], geometry: Optional[Geometry] = None) -> Dict[int, float]:
    """{class id: share of pixels} of ``mask`` (ids ascending, present classes only),
    counting only the part that came from the frame when ``geometry`` is given."""
    if geometry is not None:
        rows, cols = _content_span(mask.shape, geometry)
        mask = mask[rows[0]:rows[1], cols[0]:cols[1]]
    if mask.size == 0:
        return {}
    if not np.issubdtype(mask.dtype, np.integer) or (np.issubdtype(mask.dtype, np.signedinteger) and mask.min() < 0):
        raise InputError(f"a class mask holds non-negative integers, not {mask.dtype} values below 0 or fractions")
    counts = np.bincount(mask.ravel())
    ids = np.flatnonzero(counts)
    total = float(mask.size)
    return {int(i): float(counts[i]) / total for i in ids}


def to_frame_mask(mask: NDArray[Any], geometry: Geometry, outside: int) -> NDArray[Any]:
    """``mask`` (spanning the model input) resampled to frame pixels by nearest neighbour:
    each frame pixel takes the class under its centre; pixels outside the source rectangle
    get ``outside``."""
    out_h, out_w = mask.shape
    rows = _frame_to_mask_index(geometry.frame_h, geometry.src_y, geometry.src_h, geometry.dst_y,
                                geometry.dst_h, out_h / geometry.tensor_h, out_h)
    cols = _frame_to_mask_index(geometry.frame_w, geometry.src_x, geometry.src_w, geometry.dst_x,
                                geometry.dst_w, out_w / geometry.tensor_w, out_w)
    inside_rows, inside_cols = np.flatnonzero(rows >= 0), np.flatnonzero(cols >= 0)
    if not (inside_rows.size and inside_cols.size):
        return np.full((geometry.frame_h, geometry.frame_w), outside, dtype=mask.dtype)
    # Inside pixels form one rectangle (the source rectangle is convex).
    r0, r1 = int(inside_rows[0]), int(inside_rows[-1]) + 1
    c0, c1 = int(inside_cols[0]), int(inside_cols[-1]) + 1
    block_rows, block_cols = rows[r0:r1], cols[c0:c1]
    block: NDArray[Any]
    if np.all(np.diff(block_cols) >= 0):
        # Columns ascend: repeating each mask column is 10x faster than fancy indexing in 2-D.
        block = np.repeat(mask, np.bincount(block_cols, minlength=out_w), axis=1)[block_rows]
    else:
        block = mask[np.ix_(block_rows, block_cols)]
    if (r0, r1, c0, c1) == (0, geometry.frame_h, 0, geometry.frame_w):
        return block
    frame = np.full((geometry.frame_h, geometry.frame_w), outside, dtype=mask.dtype)
    frame[r0:r1, c0:c1] = block
    return frame


class Segment:
    """Adapter turning a segmentation model's output into a ``Segmentation``.

    ``to_frame``: the mask in frame pixels (letterbox, crop and ROI undone) rather than on the
    model's output grid. ``labels``: names for ``label_fractions`` and JSON. ``num_classes``:
    for class-map models, sizes the mask dtype (default: from the labels, else uint16).
    ``threshold``: for single-channel probability outputs. ``output``: index or name."""

    def __init__(self, labels: LabelsArg = None, *, to_frame: bool = False, num_classes: Optional[int] = None,
                 threshold: float = 0.5, output: Union[int, str] = 0) -> None:
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer))
                                        or not 1 <= num_classes < 65535):
            raise InputError(f"num_classes must be None or a whole number from 1 to 65534, got {num_classes!r}")
        if not isinstance(output, (int, str)) or isinstance(output, bool):
            raise InputError(f"output must be an output index or name, got {output!r}")
        self.labels = as_label_map(labels)
        self.to_frame = bool(to_frame)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.threshold = float(threshold)
        self.output = output

    def __call__(self, result: Result) -> Segmentation:
        raw, info = _pick_output(result, self.output)
        mask = get_mask(raw, info, self.threshold)
        dtype = self._mask_dtype(raw)
        outside = int(np.iinfo(dtype).max)
        if mask.size and int(mask.max()) >= outside:
            raise ModelError(
                f"the segmentation mask holds class id {int(mask.max())}, beyond {outside - 1}: pass "
                f"Segment(num_classes=...) with the model's class count")
        mask = mask.astype(dtype)
        fractions = class_fractions(mask, result.geometry)
        if self.to_frame:
            mask = to_frame_mask(mask, result.geometry, outside)
        return Segmentation(mask=mask, fractions=fractions, in_frame=self.to_frame, outside=outside,
                            labels=self.labels)

    def _mask_dtype(self, raw: NDArray[Any]) -> "np.dtype[Any]":
        shape = np.shape(raw)
        channels = shape[-1] if len(shape) == 4 else 1
        if channels > 1:
            classes = channels
        elif self.num_classes is not None:
            classes = self.num_classes
        elif self.labels:
            classes = max(self.labels) + 1
        else:
            classes = 65535
        return np.dtype(np.uint8) if classes <= 255 else np.dtype(np.uint16)

    def __repr__(self) -> str:
        return f"Segment(to_frame={self.to_frame}, num_classes={self.num_classes})"


def _pick_output(result: Result, which: Union[int, str]) -> Tuple[NDArray[Any], Optional[TensorInfo]]:
    if not result.outputs:
        raise _not_segmentation("the model has no outputs")
    if isinstance(which, str):
        names = [d.name for d in result.output_details]
        if which not in names:
            raise ModelError(f"no output named {which!r}; outputs are {names}")
        index = names.index(which)
    else:
        index = which
        if not -len(result.outputs) <= index < len(result.outputs):
            raise ModelError(f"output {index} does not exist: the model has {len(result.outputs)} outputs")
    info = result.output_details[index] if len(result.output_details) == len(result.outputs) else None
    return result.outputs[index], info


def _content_span(shape: Tuple[int, ...], g: Geometry) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """Rows and columns of a mask spanning the model input that hold the frame's content (the
    destination rectangle): the cells whose centres lie inside it, at least one each way."""

    def span(start: float, size: float, cells: int, tensor: int) -> Tuple[int, int]:
        scale = cells / tensor
        lo = min(max(int(np.floor(start * scale + 0.5)), 0), cells - 1)
        hi = min(max(int(np.floor((start + size) * scale + 0.5)), lo + 1), cells)
        return lo, hi

    return span(g.dst_y, g.dst_h, shape[0], g.tensor_h), span(g.dst_x, g.dst_w, shape[1], g.tensor_w)


def _frame_to_mask_index(frame: int, src: float, src_size: float, dst: float, dst_size: float,
                         cells_per_tensor_pixel: float, cells: int) -> NDArray[np.intp]:
    """For each frame pixel along one axis, the mask cell under its centre, or -1 outside the
    source rectangle."""
    centres = np.arange(frame, dtype=np.float64) + 0.5
    tensor = dst + (centres - src) * (dst_size / src_size)
    index = np.clip(np.floor(tensor * cells_per_tensor_pixel), 0, cells - 1).astype(np.intp)
    inside = (centres >= src) & (centres < src + src_size)
    return np.where(inside, index, -1).astype(np.intp)


def _not_segmentation(why: str) -> ModelError:
    return ModelError(f"the model is not a segmentation model: {why}, not a [1, H, W] class map or "
                      f"[1, H, W, C] class scores. Segment reads those; use Classify, Detect or Pose "
                      f"for other models")

