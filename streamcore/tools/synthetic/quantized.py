"""Random quantized weights whose scales keep a layer's outputs inside its quantized range."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Tuple

import numpy as np
from numpy.typing import NDArray

from .builder import Quantization

__all__ = [
    "Activation",
    "UINT8_WEIGHT_ZERO_POINT",
    "random_uint8_weights",
    "centering_bias",
    "linear_quantization",
    "relu6_quantization",
    "relu6_moments",
]

UINT8_WEIGHT_ZERO_POINT = 128
# Standard deviation of q - 128 for q uniform on 0..255.
_UNIFORM_UINT8_STD = math.sqrt((256**2 - 1) / 12.0)
# Linear activations get a range of this many standard deviations each side of zero.
_LINEAR_RANGE_STDS = 4.0


@dataclass(frozen=True)
class Activation:
    """A uint8 tensor of the graph with the expected mean and variance of its real values."""

    index: int
    shape: Tuple[int, ...]
    quantization: Quantization
    mean: float
    variance: float

    @property
    def scale(self) -> float:
        return self.quantization.scale[0]


def random_uint8_weights(
    rng: np.random.Generator, shape: Tuple[int, ...], real_std: float
) -> Tuple[NDArray[Any], Quantization]:
    """Uniform uint8 weights around zero point 128 whose real values have standard deviation `real_std`."""
    data = rng.integers(0, 256, size=shape, dtype=np.uint8)
    return data, Quantization.per_tensor(real_std / _UNIFORM_UINT8_STD, UINT8_WEIGHT_ZERO_POINT)


def centering_bias(
    weights: NDArray[Any],
    weight_quant: Quantization,
    input_quant: Quantization,
    input_mean: float,
    reduce_axes: Tuple[int, ...],
) -> Tuple[NDArray[Any], Quantization]:
    """int32 bias that cancels `input_mean` times each output channel's weight sum (like a folded batch norm)."""
    weight_scale = weight_quant.scale[0]
    sums = (weights.astype(np.int64) - weight_quant.zero_point[0]).sum(axis=reduce_axes)
    bias_scale = input_quant.scale[0] * weight_scale
    bias_real = -input_mean * weight_scale * sums
    bias = np.round(bias_real / bias_scale).astype(np.int32)
    return bias, Quantization.per_tensor(bias_scale, 0)


def linear_quantization(std: float, dtype: str = "uint8") -> Quantization:
    """Symmetric range of a few standard deviations for an activation without a nonlinearity."""
    half_range = _LINEAR_RANGE_STDS * std
    return Quantization.per_tensor(half_range / 128.0, 128 if dtype == "uint8" else 0)


def relu6_quantization() -> Quantization:
    """The [0, 6] range by which TOCO-converted models express a ReLU6 (fused activation NONE)."""
    return Quantization.per_tensor(6.0 / 255.0, 0)


@lru_cache(maxsize=None)
def relu6_moments(pre_activation_std: float) -> Tuple[float, float]:
    """Mean and variance of ReLU6(z) for z ~ N(0, std**2)."""
    z = np.linspace(-8.0 * pre_activation_std, 8.0 * pre_activation_std, 8001)
    density = np.exp(-0.5 * (z / pre_activation_std) ** 2)
    density /= density.sum()
    r = np.clip(z, 0.0, 6.0)
    mean = float((density * r).sum())
    return mean, float((density * r * r).sum()) - mean * mean
