"""Description of a model's input or output tensor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Tuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["TensorInfo"]


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
