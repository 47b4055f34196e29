"""Models whose graph is input -> edgetpu-custom-op -> outputs, shaped like compiled
Edge TPU models (`*_edgetpu.tflite`).

They carry no compiled Edge TPU program (the custom options are a few placeholder bytes), so
only the simulated libedgetpu can run them: they are the bench's default model on ``sim:N``
and let the simulator tests run on a fresh clone. A real Edge TPU rejects them.
"""

from __future__ import annotations

from typing import Any, Sequence

import flatbuffers
import tflite

__all__ = ["edgetpu_model", "edgetpu_classifier", "CUSTOM_OP"]

CUSTOM_OP = "edgetpu-custom-op"
_BUILTIN_CUSTOM = 32  # BuiltinOperator.CUSTOM


def _int_vector(builder: Any, start: Any, values: Sequence[int]) -> int:
    start(builder, len(values))
    for v in reversed(values):
        builder.PrependInt32(v)
    return int(builder.EndVector())


def _quantization(builder: Any, scale: float, zero_point: int) -> int:
    tflite.QuantizationParametersStartScaleVector(builder, 1)
    builder.PrependFloat32(scale)
    scales = builder.EndVector()
    tflite.QuantizationParametersStartZeroPointVector(builder, 1)
    builder.PrependInt64(zero_point)
    zero_points = builder.EndVector()
    tflite.QuantizationParametersStart(builder)
    tflite.QuantizationParametersAddScale(builder, scales)
    tflite.QuantizationParametersAddZeroPoint(builder, zero_points)
    return int(tflite.QuantizationParametersEnd(builder))


def _tensor(builder: Any, name: str, shape: Sequence[int], tensor_type: int, scale: float, zero_point: int) -> int:
    name_offset = builder.CreateString(name)
    shape_offset = _int_vector(builder, tflite.TensorStartShapeVector, shape)
    quant = _quantization(builder, scale, zero_point)
    tflite.TensorStart(builder)
    tflite.TensorAddShape(builder, shape_offset)
    tflite.TensorAddType(builder, tensor_type)
    tflite.TensorAddBuffer(builder, 0)
    tflite.TensorAddName(builder, name_offset)
    tflite.TensorAddQuantization(builder, quant)
    return int(tflite.TensorEnd(builder))


def edgetpu_model(
    height: int = 8,
    width: int = 8,
    output_sizes: Sequence[int] = (10,),
    output_type: str = "uint8",
) -> bytes:
    """A model: uint8 input [1, height, width, 3] -> edgetpu-custom-op -> outputs [1, n] per n."""
    if output_type not in ("uint8", "int8"):
        raise ValueError("output_type must be 'uint8' or 'int8'")
    out_type = tflite.TensorType.UINT8 if output_type == "uint8" else tflite.TensorType.INT8
    out_zero_point = 0 if output_type == "uint8" else -128
    builder = flatbuffers.Builder(1024)

    tensors = [_tensor(builder, "input", [1, height, width, 3], tflite.TensorType.UINT8, 1 / 128, 128)]
    for k, n in enumerate(output_sizes):
        tensors.append(_tensor(builder, f"output_{k}", [1, n], out_type, 1 / 256, out_zero_point))
    tflite.SubGraphStartTensorsVector(builder, len(tensors))
    for t in reversed(tensors):
        builder.PrependUOffsetTRelative(t)
    tensors_vector = builder.EndVector()

    output_indices = list(range(1, len(output_sizes) + 1))
    op_inputs = _int_vector(builder, tflite.OperatorStartInputsVector, [0])
    op_outputs = _int_vector(builder, tflite.OperatorStartOutputsVector, output_indices)
    placeholder = b"streamcore-sim-model"
    tflite.OperatorStartCustomOptionsVector(builder, len(placeholder))
    for byte in reversed(placeholder):
        builder.PrependUint8(byte)
    custom_options = builder.EndVector()
    tflite.OperatorStart(builder)
    tflite.OperatorAddOpcodeIndex(builder, 0)
    tflite.OperatorAddInputs(builder, op_inputs)
    tflite.OperatorAddOutputs(builder, op_outputs)
    tflite.OperatorAddCustomOptions(builder, custom_options)
    tflite.OperatorAddCustomOptionsFormat(builder, tflite.CustomOptionsFormat.FLEXBUFFERS)
    operator = tflite.OperatorEnd(builder)
    tflite.SubGraphStartOperatorsVector(builder, 1)
    builder.PrependUOffsetTRelative(operator)
    operators = builder.EndVector()

    graph_inputs = _int_vector(builder, tflite.SubGraphStartInputsVector, [0])
    graph_outputs = _int_vector(builder, tflite.SubGraphStartOutputsVector, output_indices)
    graph_name = builder.CreateString("main")
    tflite.SubGraphStart(builder)
    tflite.SubGraphAddTensors(builder, tensors_vector)
    tflite.SubGraphAddInputs(builder, graph_inputs)
    tflite.SubGraphAddOutputs(builder, graph_outputs)
    tflite.SubGraphAddOperators(builder, operators)
    tflite.SubGraphAddName(builder, graph_name)
    subgraph = tflite.SubGraphEnd(builder)
    tflite.ModelStartSubgraphsVector(builder, 1)
    builder.PrependUOffsetTRelative(subgraph)
    subgraphs = builder.EndVector()

    custom_code = builder.CreateString(CUSTOM_OP)
    tflite.OperatorCodeStart(builder)
    tflite.OperatorCodeAddDeprecatedBuiltinCode(builder, _BUILTIN_CUSTOM)
    tflite.OperatorCodeAddBuiltinCode(builder, _BUILTIN_CUSTOM)
    tflite.OperatorCodeAddCustomCode(builder, custom_code)
    tflite.OperatorCodeAddVersion(builder, 1)
    opcode = tflite.OperatorCodeEnd(builder)
    tflite.ModelStartOperatorCodesVector(builder, 1)
    builder.PrependUOffsetTRelative(opcode)
    opcodes = builder.EndVector()

    tflite.BufferStart(builder)
    empty_buffer = tflite.BufferEnd(builder)  # buffer 0: the "no data" sentinel
    tflite.ModelStartBuffersVector(builder, 1)
    builder.PrependUOffsetTRelative(empty_buffer)
    buffers = builder.EndVector()

    description = builder.CreateString("streamcore synthetic model for the simulated Edge TPU (not compiled TPU code)")
    tflite.ModelStart(builder)
    tflite.ModelAddVersion(builder, 3)
    tflite.ModelAddOperatorCodes(builder, opcodes)
    tflite.ModelAddSubgraphs(builder, subgraphs)
    tflite.ModelAddDescription(builder, description)
    tflite.ModelAddBuffers(builder, buffers)
    model = tflite.ModelEnd(builder)
    builder.Finish(model, file_identifier=b"TFL3")
    return bytes(builder.Output())


def edgetpu_classifier(input_size: int = 224, num_classes: int = 1001) -> bytes:
    """Shaped like mobilenet_v2_1.0_224_quant_edgetpu.tflite: uint8 [1, 224, 224, 3] ->
    edgetpu-custom-op -> uint8 [1, 1001]. Runs on the simulated libedgetpu only."""
    return edgetpu_model(input_size, input_size, (num_classes,), "uint8")
