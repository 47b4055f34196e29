"""A uint8 MobileNet V2 1.0 224 with random weights and the real model's layers, shapes and cost."""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from ...errors import ModelError
from . import options
from .builder import GraphBuilder, Quantization
from .quantized import (
    Activation,
    centering_bias,
    linear_quantization,
    random_uint8_weights,
    relu6_moments,
    relu6_quantization,
)

__all__ = ["mobilenet_v2", "INPUT_QUANTIZATION", "OUTPUT_QUANTIZATION"]

INPUT_QUANTIZATION = Quantization.per_tensor(1.0 / 128.0, 128)
OUTPUT_QUANTIZATION = Quantization.per_tensor(1.0 / 256.0, 0)
_INPUT_SIZE = 224
# (expansion, output channels, repeats, first stride) of the inverted residual stages.
_STAGES: Tuple[Tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280
# Pre-activation spread before a ReLU6 layer: wide enough to use the [0, 6] range, rarely clipped at 6.
_RELU6_PRE_STD = 2.0
_PROJECT_STD = 1.0
_LOGITS_STD = 3.0
# Images scaled to [-1, 1] have roughly this variance.
_INPUT_VARIANCE = 0.25
# Share of a channel's spatial variance left after the 7x7 global average (about 0.1 measured;
# a smaller guess widens the logits, which makes the top classes vary more between inputs).
_POOLED_VARIANCE_FRACTION = 0.05


class _MobileNetV2:
    def __init__(self, num_classes: int, seed: int) -> None:
        self.g = GraphBuilder("streamcore synthetic MobileNet V2 1.0 224 (random weights)")
        self.rng = np.random.default_rng(seed)
        self.num_classes = num_classes

    def build(self) -> bytes:
        g = self.g
        x = Activation(
            g.tensor("input", (1, _INPUT_SIZE, _INPUT_SIZE, 3), "uint8", INPUT_QUANTIZATION),
            (1, _INPUT_SIZE, _INPUT_SIZE, 3), INPUT_QUANTIZATION, 0.0, _INPUT_VARIANCE,
        )
        graph_input = x.index
        x = self.conv(x, _STEM_CHANNELS, 3, 2, True, "MobilenetV2/Conv", "Relu6")
        block = 0
        for expansion, channels, repeats, first_stride in _STAGES:
            for repeat in range(repeats):
                x = self.inverted_residual(x, expansion, channels, first_stride if repeat == 0 else 1, block)
                block += 1
        x = self.conv(x, _HEAD_CHANNELS, 1, 1, True, "MobilenetV2/Conv_1", "Relu6")
        x = self.global_average(x)
        x = self.conv(x, self.num_classes, 1, 1, False, "MobilenetV2/Logits/Conv2d_1c_1x1", "BiasAdd", _LOGITS_STD)
        logits = g.tensor("MobilenetV2/Logits/Squeeze", (1, self.num_classes), "uint8", x.quantization)
        new_shape = g.constant("MobilenetV2/Logits/Squeeze_shape", np.array([1, self.num_classes], np.int32))
        g.operator("RESHAPE", [x.index, new_shape], [logits], options.reshape([1, self.num_classes]))
        probabilities = g.tensor("MobilenetV2/Predictions/Softmax", (1, self.num_classes), "uint8", OUTPUT_QUANTIZATION)
        g.operator("SOFTMAX", [logits], [probabilities], options.softmax(1.0))
        return g.build([graph_input], [probabilities])

    def inverted_residual(self, x: Activation, expansion: int, channels: int, stride: int, block: int) -> Activation:
        prefix = "MobilenetV2/expanded_conv" + (f"_{block}" if block else "")
        inner = x
        if expansion != 1:
            inner = self.conv(inner, x.shape[3] * expansion, 1, 1, True, f"{prefix}/expand", "Relu6")
        inner = self.conv(inner, inner.shape[3], 3, stride, True, f"{prefix}/depthwise", "Relu6", depthwise=True)
        out = self.conv(inner, channels, 1, 1, False, f"{prefix}/project", "add_fold", _PROJECT_STD)
        if stride == 1 and x.shape[3] == channels:
            out = self.residual_add(out, x, f"{prefix}/add")
        return out

    def conv(
        self, x: Activation, channels: int, kernel: int, stride: int, relu6: bool,
        name: str, output_suffix: str, output_std: float = _RELU6_PRE_STD, depthwise: bool = False,
    ) -> Activation:
        g = self.g
        in_channels = x.shape[3]
        fan_in = kernel * kernel * (1 if depthwise else in_channels)
        pre_std = _RELU6_PRE_STD if relu6 else output_std
        shape = (1, kernel, kernel, channels) if depthwise else (channels, kernel, kernel, in_channels)
        weights, weight_quant = random_uint8_weights(self.rng, shape, pre_std / math.sqrt(fan_in * x.variance))
        reduce_axes = (0, 1, 2) if depthwise else (1, 2, 3)
        bias, bias_quant = centering_bias(weights, weight_quant, x.quantization, x.mean, reduce_axes)
        w = g.constant(f"{name}/weights", weights, weight_quant)
        b = g.constant(f"{name}/bias", bias, bias_quant)
        size = -(-x.shape[1] // stride)
        out_shape = (1, size, size, channels)
        if relu6:
            mean, variance = relu6_moments(_RELU6_PRE_STD)
            quant = relu6_quantization()
        else:
            mean, variance = 0.0, pre_std * pre_std
            quant = linear_quantization(pre_std)
        y = g.tensor(f"{name}/{output_suffix}", out_shape, "uint8", quant)
        if depthwise:
            g.operator("DEPTHWISE_CONV_2D", [x.index, w, b], [y], options.depthwise_conv_2d("same", stride))
        else:
            g.operator("CONV_2D", [x.index, w, b], [y], options.conv_2d("same", stride))
        return Activation(y, out_shape, quant, mean, variance)

    def residual_add(self, a: Activation, b: Activation, name: str) -> Activation:
        variance = a.variance + b.variance
        quant = linear_quantization(math.sqrt(variance))
        y = self.g.tensor(name, a.shape, "uint8", quant)
        self.g.operator("ADD", [a.index, b.index], [y], options.add())
        return Activation(y, a.shape, quant, a.mean + b.mean, variance)

    def global_average(self, x: Activation) -> Activation:
        size = x.shape[1]
        shape = (1, 1, 1, x.shape[3])
        # Quantized average pooling keeps its input's quantization.
        y = self.g.tensor("MobilenetV2/Logits/AvgPool", shape, "uint8", x.quantization)
        self.g.operator("AVERAGE_POOL_2D", [x.index], [y], options.pool_2d((size, size), (1, 1), "valid"))
        return Activation(y, shape, x.quantization, x.mean, x.variance * _POOLED_VARIANCE_FRACTION)


def mobilenet_v2(num_classes: int = 1001, seed: int = 0) -> bytes:
    """uint8 MobileNet V2 1.0 224 classifier with random weights, laid out like the published quantized model.

    Input [1, 224, 224, 3] uint8 (scale 1/128, zero point 128); output [1, num_classes] uint8
    softmax (scale 1/256, zero point 0). Same operators, shapes and arithmetic cost as
    mobilenet_v2_1.0_224_quant.tflite; the same seed gives the same bytes.
    """
    if num_classes < 2:
        raise ModelError(f"num_classes is {num_classes}; a classifier needs at least 2 classes")
    return _MobileNetV2(num_classes, seed).build()
