"""The values streamcore hands back: where a frame landed in the model input (Geometry),
what a tensor is (TensorInfo), and what an inference gives (Result with its Timings, and
the adapters' Class, Object and BBox; with a cascade, each Object's Secondary and the
frame's CascadeInfo)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BBox", "CascadeInfo", "Class", "Geometry", "Object", "ObjectError", "Result", "Secondary", "TensorInfo",
    "Timings",
]


@dataclass(frozen=True)
class Geometry:
    """The transform preprocess applied: the source rectangle of the frame (the ROI or
    crop, in frame pixels) was scaled onto the destination rectangle of the tensor.

    ``frame_x = src_x + (tensor_x - dst_x) * src_w / dst_w`` and likewise for y.
    """

    src_x: float
    src_y: float
    src_w: float
    src_h: float
    dst_x: float
    dst_y: float
    dst_w: float
    dst_h: float
    frame_w: int
    frame_h: int
    tensor_w: int
    tensor_h: int

    def to_frame(self, x: float, y: float) -> Tuple[float, float]:
        """Maps a point in tensor pixels to frame pixels."""
        return (
            self.src_x + (x - self.dst_x) * self.src_w / self.dst_w,
            self.src_y + (y - self.dst_y) * self.src_h / self.dst_h,
        )

    def box_to_frame(
        self, ymin: float, xmin: float, ymax: float, xmax: float, *, normalized: bool = True
    ) -> Tuple[float, float, float, float]:
        """Maps a (ymin, xmin, ymax, xmax) box from the tensor (normalized to [0, 1] by
        default, as SSD models give them) to (xmin, ymin, xmax, ymax) frame pixels,
        clipped to the source rectangle."""
        if normalized:
            ymin, ymax = ymin * self.tensor_h, ymax * self.tensor_h
            xmin, xmax = xmin * self.tensor_w, xmax * self.tensor_w
        x0, y0 = self.to_frame(xmin, ymin)
        x1, y1 = self.to_frame(xmax, ymax)
        lo_x, hi_x = self.src_x, self.src_x + self.src_w
        lo_y, hi_y = self.src_y, self.src_y + self.src_h
        return (
            min(max(x0, lo_x), hi_x),
            min(max(y0, lo_y), hi_y),
            min(max(x1, lo_x), hi_x),
            min(max(y1, lo_y), hi_y),
        )


@dataclass(frozen=True)
class TensorInfo:
    name: str
    index: int
    shape: Tuple[int, ...]
    dtype: "np.dtype[np.generic]"
    scale: float  # 0.0 when the tensor is not quantized
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0

    def dequantize(self, array: NDArray[Any]) -> NDArray[Any]:
        if not self.quantized:
            return np.asarray(array, dtype=np.float32)
        return (array.astype(np.float32) - np.float32(self.zero_point)) * np.float32(self.scale)


@dataclass(frozen=True)
class Class:
    """One classification result (pycoral's ``Class``)."""

    id: int
    score: float
    label: Optional[str] = None


@dataclass(frozen=True)
class BBox:
    """A box in frame pixels, with pycoral's ``BBox`` helpers (``valid``, ``scale``,
    ``translate``, ``map``, ``intersect``, ``union``, ``iou``)."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float

    @property
    def width(self) -> float:
        return self.xmax - self.xmin

    @property
    def height(self) -> float:
        return self.ymax - self.ymin

    @property
    def area(self) -> float:
        """Zero for an invalid box (pycoral's goes negative)."""
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def valid(self) -> bool:
        """xmin <= xmax and ymin <= ymax (a zero-area box is valid)."""
        return self.width >= 0 and self.height >= 0

    def scale(self, sx: float, sy: float) -> "BBox":
        """Every x multiplied by ``sx``, every y by ``sy``."""
        return BBox(xmin=sx * self.xmin, ymin=sy * self.ymin, xmax=sx * self.xmax, ymax=sy * self.ymax)

    def translate(self, dx: float, dy: float) -> "BBox":
        """Moved by ``dx`` pixels along x and ``dy`` along y."""
        return BBox(xmin=dx + self.xmin, ymin=dy + self.ymin, xmax=dx + self.xmax, ymax=dy + self.ymax)

    def map(self, f: Callable[[float], float]) -> "BBox":
        """Each coordinate passed through ``f`` (e.g. ``int`` or ``round``)."""
        return BBox(xmin=f(self.xmin), ymin=f(self.ymin), xmax=f(self.xmax), ymax=f(self.ymax))

    @staticmethod
    def intersect(a: "BBox", b: "BBox") -> "BBox":
        """The overlap of two boxes; not ``valid`` when they do not overlap."""
        return BBox(xmin=max(a.xmin, b.xmin), ymin=max(a.ymin, b.ymin),
                    xmax=min(a.xmax, b.xmax), ymax=min(a.ymax, b.ymax))

    @staticmethod
    def union(a: "BBox", b: "BBox") -> "BBox":
        """The smallest box holding both (valid when both are)."""
        return BBox(xmin=min(a.xmin, b.xmin), ymin=min(a.ymin, b.ymin),
                    xmax=max(a.xmax, b.xmax), ymax=max(a.ymax, b.ymax))

    @staticmethod
    def iou(a: "BBox", b: "BBox") -> float:
        """Intersection over union: 1.0 for the same box, 0.0 when they do not overlap, touch
        along an edge, or both have zero area (pycoral divides by zero there)."""
        inter = BBox.intersect(a, b)
        if not inter.valid:
            return 0.0
        overlap = inter.area
        total = a.area + b.area - overlap
        return overlap / total if total > 0 else 0.0


@dataclass(frozen=True)
class Object:
    """One detection (pycoral's ``Object``), with its box in frame pixels. In a cascade,
    ``secondary`` is what the second model made of it (None for objects it did not run on:
    not selected by ``when``, or past ``max_per_frame``)."""

    id: int
    score: float
    bbox: BBox
    label: Optional[str] = None
    secondary: Optional[Secondary] = None


@dataclass(frozen=True)
class Timings:
    """Per-stage times of one inference, in milliseconds."""

    queue_ms: float
    preprocess_ms: float
    invoke_ms: float
    total_ms: float


@dataclass(frozen=True)
class ObjectError:
    """Why one object's second-stage inference failed: the ``StreamcoreError`` subclass's
    name and its message (plain strings, so results stay JSON-serialisable)."""

    type: str
    message: str


@dataclass(frozen=True)
class Secondary:
    """What a cascade's second model made of one object.

    ``roi`` is the crop it saw, (x, y, width, height) in frame pixels: the object's box
    widened by the cascade's margin and clipped to the frame (None when nothing of the box
    lies inside the frame). ``value`` is the second model's adapter output (``Classify``: a
    list of ``Class``), ``device`` where it ran and ``timings`` its stage times; or
    ``error`` says why this object failed (the frame and its other objects are unaffected).
    """

    roi: Optional[Tuple[int, int, int, int]]
    value: Any = None
    device: Optional[str] = None
    timings: Optional[Timings] = None
    error: Optional[ObjectError] = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class CascadeInfo:
    """One frame's accounting in a cascade: ``objects`` the detector found, ``matched`` by
    ``when``, of which ``classified`` got a second-stage result, ``errors`` failed, and
    ``skipped`` were past ``max_per_frame`` (``classified + errors + skipped == matched``).
    ``second_stage_ms``: from the detections to the last object's result (wall clock, the
    objects run concurrently); ``total_ms``: the whole frame, both stages."""

    objects: int
    matched: int
    classified: int
    errors: int
    skipped: int
    second_stage_ms: float
    total_ms: float


@dataclass
class Result:
    """One inference. ``outputs`` are numpy views over native memory that stays valid as
    long as any of them is referenced."""

    outputs: List[NDArray[Any]]
    output_details: Sequence[TensorInfo]
    geometry: Geometry
    timings: Timings
    device: str
    value: Any = field(default=None)  # what the engine's adapter made of the outputs
    cascade: Optional[CascadeInfo] = field(default=None)  # set by a cascade engine

    def output(self, name_or_index: "int | str") -> NDArray[Any]:
        if isinstance(name_or_index, int):
            return self.outputs[name_or_index]
        for info, array in zip(self.output_details, self.outputs):
            if info.name == name_or_index:
                return array
        raise KeyError(f"no output named {name_or_index!r}; outputs are "
                       f"{[i.name for i in self.output_details]}")

    def dequantized(self, index: int = 0) -> NDArray[Any]:
        """The output as float32 real values (a new array)."""
        return self.output_details[index].dequantize(self.outputs[index])
