"""What an inference gives back: raw outputs, timings, geometry and decoded results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence

import numpy as np
from numpy.typing import NDArray

from .geometry import Geometry
from .tensors import TensorInfo

__all__ = ["BBox", "Class", "Object", "Timings", "Result"]


@dataclass(frozen=True)
class Class:
    """One classification result (pycoral's ``Class``)."""

    id: int
    score: float
    label: Optional[str] = None


@dataclass(frozen=True)
class BBox:
    """A box in frame pixels."""

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
        return max(0.0, self.width) * max(0.0, self.height)


@dataclass(frozen=True)
class Object:
    """One detection (pycoral's ``Object``), with its box in frame pixels."""

    id: int
    score: float
    bbox: BBox
    label: Optional[str] = None


@dataclass(frozen=True)
class Timings:
    """Per-stage times of one inference, in milliseconds."""

    queue_ms: float
    preprocess_ms: float
    invoke_ms: float
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
