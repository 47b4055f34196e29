"""Writers for the builtin-options tables of the operators the synthetic models use."""

from __future__ import annotations

from typing import Sequence, Tuple

import flatbuffers
import numpy as np
import tflite

from .builder import OptionsWriter

__all__ = [
    "ACTIVATIONS",
    "PADDINGS",
    "conv_2d",
    "depthwise_conv_2d",
    "pool_2d",
    "add",
    "reshape",
    "softmax",
    "fully_connected",
    "concatenation",
    "arg_max",
]

ACTIVATIONS = {
    "none": tflite.ActivationFunctionType.NONE,
    "relu": tflite.ActivationFunctionType.RELU,
    "relu6": tflite.ActivationFunctionType.RELU6,
}
PADDINGS = {"same": tflite.Padding.SAME, "valid": tflite.Padding.VALID}


def conv_2d(padding: str = "same", stride: int = 1, activation: str = "none") -> OptionsWriter:
    def write(fb: flatbuffers.Builder) -> Tuple[int, int]:
        tflite.Conv2DOptionsStart(fb)
        tflite.Conv2DOptionsAddPadding(fb, PADDINGS[padding])
        tflite.Conv2DOptionsAddStrideW(fb, stride)
        tflite.Conv2DOptionsAddStrideH(fb, stride)
        tflite.Conv2DOptionsAddFusedActivationFunction(fb, ACTIVATIONS[activation])
        tflite.Conv2DOptionsAddDilationWFactor(fb, 1)
        tflite.Conv2DOptionsAddDilationHFactor(fb, 1)
        return tflite.BuiltinOptions.Conv2DOptions, int(tflite.Conv2DOptionsEnd(fb))

    return write


def depthwise_conv_2d(
    padding: str = "same", stride: int = 1, activation: str = "none", depth_multiplier: int = 1
) -> OptionsWriter:
    def write(fb: flatbuffers.Builder) -> Tuple[int, int]:
        tflite.DepthwiseConv2DOptionsStart(fb)
        tflite.DepthwiseConv2DOptionsAddPadding(fb, PADDINGS[padding])
        tflite.DepthwiseConv2DOptionsAddStrideW(fb, stride)
        tflite.DepthwiseConv2DOptionsAddStrideH(fb, stride)
        tflite.DepthwiseConv2DOptionsAddDepthMultiplier(fb, depth_multiplier)
        tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(fb, ACTIVATIONS[activation])
        tflite.DepthwiseConv2DOptionsAddDilationWFactor(fb, 1)
        tflite.DepthwiseConv2DOptionsAddDilationHFactor(fb, 1)
        return tflite.BuiltinOptions.DepthwiseConv2DOptions, int(tflite.DepthwiseConv2DOptionsEnd(fb))

    return write


def pool_2d(
    filter_hw: Tuple[int, int], stride_hw: Tuple[int, int], padding: str = "valid",
    activation: str = "none",
) -> OptionsWriter:
    def write(fb: flatbuffers.Builder) -> Tuple[int, int]:
        tflite.Pool2DOptionsStart(fb)
        tflite.Pool2DOptionsAddPadding(fb, PADDINGS[padding])
        tflite.Pool2DOptionsAddStrideH(fb, stride_hw[0])
        tflite.Pool2DOptionsAddStrideW(fb, stride_hw[1])
        tflite.Pool2DOptionsAddFilterHeight(fb, filter_hw[0])
        tflite.Pool2DOptionsAddFilterWidth(fb, filter_hw[1])
        tflite.Pool2DOptionsAddFusedActivationFunction(fb, ACTIVATIONS[activation])
        return tflite.BuiltinOptions.Pool2DOptions, int(tflite.Pool2DOptionsEnd(fb))

    return write


def add(activation: str = "none") -> OptionsWriter:
    def write(fb: flatbuffers.Builder) -> Tuple[int, int]:
        tflite.AddOptionsStart(fb)
        tflite.AddOptionsAddFusedActivationFunction(fb, ACTIVATIONS[activation])
        return tflite.BuiltinOptions.AddOptions, int(tflite.AddOptionsEnd(fb))

    return write


def reshape(new_shape: Sequence[int]) -> OptionsWriter:
    def write(fb: flatbuffers.Builder) -> Tuple[int, int]:
        shape = fb.CreateNumpyVector(np.asarray(new_shape, dtype=np.int32))
        tflite.ReshapeOptionsStart(fb)
        tflite.ReshapeOptionsAddNewShape(fb, shape)
        return tflite.BuiltinOptions.ReshapeOptions, int(tflite.ReshapeOptionsEnd(fb))

    return write


def softmax(beta: float = 1.0) -> OptionsWriter:
    def write(fb: flatbuffers.Builder) -> Tuple[int, int]:
        tflite.SoftmaxOptionsStart(fb)
        tflite.SoftmaxOptionsAddBeta(fb, beta)
        return tflite.BuiltinOptions.SoftmaxOptions, int(tflite.SoftmaxOptionsEnd(fb))

    return write


def fully_connected(activation: str = "none") -> OptionsWriter:
    def write(fb: flatbuffers.Builder) -> Tuple[int, int]:
        tflite.FullyConnectedOptionsStart(fb)
        tflite.FullyConnectedOptionsAddFusedActivationFunction(fb, ACTIVATIONS[activation])
        return tflite.BuiltinOptions.FullyConnectedOptions, int(tflite.FullyConnectedOptionsEnd(fb))

    return write


def concatenation(axis: int, activation: str = "none") -> OptionsWriter:
    def write(fb: flatbuffers.Builder) -> Tuple[int, int]:
        tflite.ConcatenationOptionsStart(fb)
        tflite.ConcatenationOptionsAddAxis(fb, axis)
        tflite.ConcatenationOptionsAddFusedActivationFunction(fb, ACTIVATIONS[activation])
        return tflite.BuiltinOptions.ConcatenationOptions, int(tflite.ConcatenationOptionsEnd(fb))

    return write


def arg_max(output_type: str = "int64") -> OptionsWriter:
    def write(fb: flatbuffers.Builder) -> Tuple[int, int]:
        tflite.ArgMaxOptionsStart(fb)
        tflite.ArgMaxOptionsAddOutputType(fb, tflite.TensorType.INT64 if output_type == "int64" else tflite.TensorType.INT32)
        return tflite.BuiltinOptions.ArgMaxOptions, int(tflite.ArgMaxOptionsEnd(fb))

    return write
