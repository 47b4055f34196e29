"""Tiny classifiers for tests: microsecond invokes, outputs that follow the input."""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray

from ...errors import ModelError
from . import options
from .builder import GraphBuilder, Quantization
from .quantized import centering_bias, linear_quantization, random_uint8_weights

__all__ = ["tiny_classifier", "non_image_model", "CLASSIFIER_DTYPES"]

CLASSIFIER_DTYPES = ("uint8", "int8", "float32")
_INPUT_QUANTIZATION: Dict[str, Optional[Quantization]] = {
    "uint8": Quantization.per_tensor(1.0 / 128.0, 128),
    "int8": Quantization.per_tensor(1.0 / 128.0, 0),
    "float32": None,
}
_SOFTMAX_QUANTIZATION: Dict[str, Optional[Quantization]] = {
    "uint8": Quantization.per_tensor(1.0 / 256.0, 0),
    "int8": Quantization.per_tensor(1.0 / 256.0, -128),
    "float32": None,
}
# Operator versions the TFLite converter assigns to int8 kernels (uint8/float32 kernels are version 1).
_INT8_VERSIONS = {"AVERAGE_POOL_2D": 2, "RESHAPE": 1, "FULLY_CONNECTED": 4, "SOFTMAX": 2}
_POOL_GRID = 4
_LOGIT_STD = 2.0
# Typical root mean square of a pooled image scaled to [-1, 1].
_FEATURE_RMS = 0.5
_INT8_UNIFORM_STD = math.sqrt((255**2 - 1) / 12.0)
_NON_IMAGE_FEATURES = 10
_NON_IMAGE_OUTPUTS = 3


def tiny_classifier(
    input_shape: Sequence[int] = (32, 32, 3), num_classes: int = 10, dtype: str = "uint8", seed: int = 0
) -> bytes:
    """AVERAGE_POOL_2D (to about a 4x4 grid) -> RESHAPE -> FULLY_CONNECTED -> SOFTMAX, random weights.

    Input [1, H, W, C] of `dtype`: uint8 (scale 1/128, zero point 128), int8 (1/128, 0) or
    float32 (unquantized). Output [1, num_classes] softmax in the same dtype (quantized with scale
    1/256). Different inputs give different outputs; the same seed gives the same bytes.
    """
    if dtype not in CLASSIFIER_DTYPES:
        raise ModelError(f"dtype {dtype!r} is not supported; use one of {CLASSIFIER_DTYPES}")
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ModelError(f"input_shape {tuple(input_shape)} must be (height, width, channels), all >= 1")
    if num_classes < 2:
        raise ModelError(f"num_classes is {num_classes}; a classifier needs at least 2 classes")
    height, width, channels = (int(d) for d in input_shape)
    rng = np.random.default_rng(seed)
    g = GraphBuilder("streamcore tiny classifier")

    def version(op: str) -> int:
        return _INT8_VERSIONS[op] if dtype == "int8" else 1

    in_quant = _INPUT_QUANTIZATION[dtype]
    image = g.tensor("input", (1, height, width, channels), dtype, in_quant)
    filter_h, filter_w = height // min(_POOL_GRID, height), width // min(_POOL_GRID, width)
    grid_h, grid_w = (height - filter_h) // filter_h + 1, (width - filter_w) // filter_w + 1
    pooled = g.tensor("pool", (1, grid_h, grid_w, channels), dtype, in_quant)
    g.operator("AVERAGE_POOL_2D", [image], [pooled],
               options.pool_2d((filter_h, filter_w), (filter_h, filter_w), "valid"), version("AVERAGE_POOL_2D"))
    features = grid_h * grid_w * channels
    flat = g.tensor("flatten", (1, features), dtype, in_quant)
    flat_shape = g.constant("flatten/shape", np.array([1, features], np.int32))
    g.operator("RESHAPE", [pooled, flat_shape], [flat], options.reshape([1, features]), version("RESHAPE"))

    weight_std = _LOGIT_STD / (math.sqrt(features) * _FEATURE_RMS)
    weights, bias, logit_quant = _dense_parameters(rng, dtype, (num_classes, features), weight_std, in_quant)
    w = g.constant("logits/weights", weights[0], weights[1])
    b = g.constant("logits/bias", bias[0], bias[1])
    logits = g.tensor("logits", (1, num_classes), dtype, logit_quant)
    g.operator("FULLY_CONNECTED", [flat, w, b], [logits], options.fully_connected(), version("FULLY_CONNECTED"))
    probabilities = g.tensor("probabilities", (1, num_classes), dtype, _SOFTMAX_QUANTIZATION[dtype])
    g.operator("SOFTMAX", [logits], [probabilities], options.softmax(1.0), version("SOFTMAX"))
    return g.build([image], [probabilities])


def _dense_parameters(
    rng: np.random.Generator,
    dtype: str,
    shape: Tuple[int, int],
    weight_std: float,
    input_quant: Optional[Quantization],
) -> Tuple[
    Tuple[NDArray[Any], Optional[Quantization]], Tuple[NDArray[Any], Optional[Quantization]], Optional[Quantization]
]:
    """(weights, quantization), (bias, quantization) and output quantization of a FULLY_CONNECTED layer."""
    if dtype == "float32" or input_quant is None:
        weights = (rng.standard_normal(shape) * weight_std).astype(np.float32)
        return (weights, None), (np.zeros(shape[0], np.float32), None), None
    if dtype == "uint8":
        data, weight_quant = random_uint8_weights(rng, shape, weight_std)
        bias, bias_quant = centering_bias(data, weight_quant, input_quant, 0.0, (1,))
        return (data, weight_quant), (bias, bias_quant), linear_quantization(_LOGIT_STD, "uint8")
    # int8 kernels require symmetric weights (zero point 0).
    data = rng.integers(-127, 128, size=shape, dtype=np.int8)
    weight_quant = Quantization.per_tensor(weight_std / _INT8_UNIFORM_STD, 0)
    bias_quant = Quantization.per_tensor(input_quant.scale[0] * weight_quant.scale[0], 0)
    return (data, weight_quant), (np.zeros(shape[0], np.int32), bias_quant), linear_quantization(_LOGIT_STD, "int8")


def non_image_model() -> bytes:
    """float32 [1, 10] -> FULLY_CONNECTED -> [1, 3]: a model whose input is not an image tensor."""
    rng = np.random.default_rng(0)
    g = GraphBuilder("streamcore non-image model")
    features = g.tensor("features", (1, _NON_IMAGE_FEATURES), "float32")
    w = g.constant("dense/weights", rng.standard_normal((_NON_IMAGE_OUTPUTS, _NON_IMAGE_FEATURES)).astype(np.float32))
    b = g.constant("dense/bias", np.zeros(_NON_IMAGE_OUTPUTS, np.float32))
    out = g.tensor("scores", (1, _NON_IMAGE_OUTPUTS), "float32")
    g.operator("FULLY_CONNECTED", [features, w, b], [out], options.fully_connected())
    return g.build([features], [out])
