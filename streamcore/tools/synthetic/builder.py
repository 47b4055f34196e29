"""A minimal single-subgraph TFLite flatbuffer writer: tensors, constant buffers, operators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import flatbuffers
import numpy as np
from numpy.typing import NDArray
import tflite

from ...errors import ModelError

__all__ = ["Quantization", "OptionsWriter", "GraphBuilder", "TENSOR_TYPES"]

# (BuiltinOptions union type, table offset) written into the flatbuffer under construction.
OptionsWriter = Callable[[flatbuffers.Builder], Tuple[int, int]]

TENSOR_TYPES: Dict[str, int] = {
    "float32": tflite.TensorType.FLOAT32,
    "int32": tflite.TensorType.INT32,
    "uint8": tflite.TensorType.UINT8,
    "int64": tflite.TensorType.INT64,
    "int8": tflite.TensorType.INT8,
    "bool": tflite.TensorType.BOOL,
}

_SCHEMA_VERSION = 3
_FILE_IDENTIFIER = b"TFL3"
# Constant data is aligned so kernels may read int32/float buffers in place.
_BUFFER_ALIGNMENT = 16
_CUSTOM_OPCODE = tflite.BuiltinOperator.CUSTOM
_FLEXBUFFERS_FORMAT = 0


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point), per tensor or along `axis`."""

    scale: Tuple[float, ...]
    zero_point: Tuple[int, ...]
    axis: int = 0

    @classmethod
    def per_tensor(cls, scale: float, zero_point: int) -> "Quantization":
        return cls((float(scale),), (int(zero_point),))

    @classmethod
    def per_channel(
        cls, scales: Sequence[float], zero_points: Sequence[int], axis: int
    ) -> "Quantization":
        if len(scales) != len(zero_points):
            raise ModelError("per-channel quantization needs one zero point per scale")
        return cls(tuple(float(s) for s in scales), tuple(int(z) for z in zero_points), axis)


@dataclass(frozen=True)
class _Tensor:
    name: str
    shape: Tuple[int, ...]
    dtype: str
    buffer: int
    quantization: Optional[Quantization]
    shape_signature: Optional[Tuple[int, ...]] = None


@dataclass(frozen=True)
class _Operator:
    opcode: int
    inputs: Tuple[int, ...]
    outputs: Tuple[int, ...]
    options: Optional[OptionsWriter]
    custom_options: Optional[bytes]


class GraphBuilder:
    """Collects one subgraph, then serializes it as a complete .tflite model."""

    def __init__(self, description: str = "streamcore synthetic model") -> None:
        self._description = description
        self._tensors: List[_Tensor] = []
        # Buffer 0 is the schema's empty sentinel shared by every non-constant tensor.
        self._buffers: List[bytes] = [b""]
        self._opcodes: List[Tuple[int, Optional[str], int]] = []
        self._operators: List[_Operator] = []

    def tensor(
        self,
        name: str,
        shape: Sequence[int],
        dtype: str,
        quantization: Optional[Quantization] = None,
        shape_signature: Optional[Sequence[int]] = None,
    ) -> int:
        """Add a tensor computed at run time (input, output or intermediate); returns its index.
        `shape_signature` (-1 for a dimension known only at run time) is written when given."""
        index = self._add_tensor(name, shape, dtype, 0, quantization)
        if shape_signature is not None:
            t = self._tensors[index]
            self._tensors[index] = _Tensor(
                t.name, t.shape, t.dtype, t.buffer, t.quantization, tuple(int(d) for d in shape_signature)
            )
        return index

    def constant(
        self, name: str, data: NDArray[Any], quantization: Optional[Quantization] = None
    ) -> int:
        """Add a tensor whose value is stored in the model; its dtype and shape come from `data`."""
        dtype = str(data.dtype)
        if dtype not in TENSOR_TYPES:
            raise ModelError(f"constant {name!r} has dtype {dtype}; use one of {sorted(TENSOR_TYPES)}")
        self._buffers.append(np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes())
        return self._add_tensor(name, data.shape, dtype, len(self._buffers) - 1, quantization)

    def operator(
        self,
        builtin: str,
        inputs: Sequence[int],
        outputs: Sequence[int],
        options: Optional[OptionsWriter] = None,
        version: int = 1,
    ) -> None:
        """Append a builtin operator, e.g. builtin="CONV_2D" (a tflite.BuiltinOperator name)."""
        code = getattr(tflite.BuiltinOperator, builtin, None)
        if not isinstance(code, int):
            raise ModelError(f"unknown builtin operator {builtin!r}; see tflite.BuiltinOperator")
        self._append(self._opcode(code, None, version), inputs, outputs, options, None)

    def custom_operator(
        self,
        custom_code: str,
        inputs: Sequence[int],
        outputs: Sequence[int],
        custom_options: bytes = b"",
        version: int = 1,
    ) -> None:
        """Append a custom operator whose options are a flexbuffer (as TFLite custom ops expect)."""
        opcode = self._opcode(_CUSTOM_OPCODE, custom_code, version)
        self._append(opcode, inputs, outputs, None, bytes(custom_options))

    def shape_of(self, index: int) -> Tuple[int, ...]:
        return self._tensors[index].shape

    def quantization_of(self, index: int) -> Optional[Quantization]:
        return self._tensors[index].quantization

    def build(self, inputs: Sequence[int], outputs: Sequence[int]) -> bytes:
        """Serialize the model with the given graph inputs and outputs."""
        size_hint = sum(len(b) for b in self._buffers) + 1024 * (len(self._tensors) + 16)
        fb = flatbuffers.Builder(size_hint)
        buffers = [self._write_buffer(fb, data) for data in self._buffers]
        tensors = [self._write_tensor(fb, t) for t in self._tensors]
        operators = [self._write_operator(fb, op) for op in self._operators]
        opcodes = [self._write_opcode(fb, *oc) for oc in self._opcodes]

        tflite.SubGraphStartTensorsVector(fb, len(tensors))
        tensors_vec = _end_offsets(fb, tensors)
        inputs_vec = fb.CreateNumpyVector(np.asarray(inputs, dtype=np.int32))
        outputs_vec = fb.CreateNumpyVector(np.asarray(outputs, dtype=np.int32))
        tflite.SubGraphStartOperatorsVector(fb, len(operators))
        operators_vec = _end_offsets(fb, operators)
        name = fb.CreateString("main")
        tflite.SubGraphStart(fb)
        tflite.SubGraphAddTensors(fb, tensors_vec)
        tflite.SubGraphAddInputs(fb, inputs_vec)
        tflite.SubGraphAddOutputs(fb, outputs_vec)
        tflite.SubGraphAddOperators(fb, operators_vec)
        tflite.SubGraphAddName(fb, name)
        subgraph = tflite.SubGraphEnd(fb)

        tflite.ModelStartOperatorCodesVector(fb, len(opcodes))
        opcodes_vec = _end_offsets(fb, opcodes)
        tflite.ModelStartSubgraphsVector(fb, 1)
        subgraphs_vec = _end_offsets(fb, [subgraph])
        tflite.ModelStartBuffersVector(fb, len(buffers))
        buffers_vec = _end_offsets(fb, buffers)
        description = fb.CreateString(self._description)
        tflite.ModelStart(fb)
        tflite.ModelAddVersion(fb, _SCHEMA_VERSION)
        tflite.ModelAddOperatorCodes(fb, opcodes_vec)
        tflite.ModelAddSubgraphs(fb, subgraphs_vec)
        tflite.ModelAddDescription(fb, description)
        tflite.ModelAddBuffers(fb, buffers_vec)
        fb.Finish(tflite.ModelEnd(fb), file_identifier=_FILE_IDENTIFIER)
        return bytes(fb.Output())

    def _add_tensor(
        self,
        name: str,
        shape: Sequence[int],
        dtype: str,
        buffer: int,
        quantization: Optional[Quantization],
    ) -> int:
        if dtype not in TENSOR_TYPES:
            raise ModelError(f"tensor {name!r} has dtype {dtype}; use one of {sorted(TENSOR_TYPES)}")
        self._tensors.append(_Tensor(name, tuple(int(d) for d in shape), dtype, buffer, quantization))
        return len(self._tensors) - 1

    def _opcode(self, code: int, custom_code: Optional[str], version: int) -> int:
        key = (code, custom_code, version)
        if key not in self._opcodes:
            self._opcodes.append(key)
        return self._opcodes.index(key)

    def _append(
        self,
        opcode: int,
        inputs: Sequence[int],
        outputs: Sequence[int],
        options: Optional[OptionsWriter],
        custom_options: Optional[bytes],
    ) -> None:
        for index in (*inputs, *outputs):
            if not -1 <= index < len(self._tensors):
                raise ModelError(f"operator refers to tensor {index}, which was never added")
        self._operators.append(
            _Operator(opcode, tuple(inputs), tuple(outputs), options, custom_options)
        )

    @staticmethod
    def _write_buffer(fb: flatbuffers.Builder, data: bytes) -> int:
        if not data:
            tflite.BufferStart(fb)
            return int(tflite.BufferEnd(fb))
        fb.StartVector(1, len(data), _BUFFER_ALIGNMENT)
        fb.head = fb.head - len(data)
        fb.Bytes[fb.head : fb.head + len(data)] = data
        vector = fb.EndVector()
        tflite.BufferStart(fb)
        tflite.BufferAddData(fb, vector)
        return int(tflite.BufferEnd(fb))

    @staticmethod
    def _write_tensor(fb: flatbuffers.Builder, tensor: _Tensor) -> int:
        quant = None
        if tensor.quantization is not None:
            q = tensor.quantization
            scale = fb.CreateNumpyVector(np.asarray(q.scale, dtype=np.float32))
            zero_point = fb.CreateNumpyVector(np.asarray(q.zero_point, dtype=np.int64))
            tflite.QuantizationParametersStart(fb)
            tflite.QuantizationParametersAddScale(fb, scale)
            tflite.QuantizationParametersAddZeroPoint(fb, zero_point)
            tflite.QuantizationParametersAddQuantizedDimension(fb, q.axis)
            quant = tflite.QuantizationParametersEnd(fb)
        shape = fb.CreateNumpyVector(np.asarray(tensor.shape, dtype=np.int32))
        signature = None
        if tensor.shape_signature is not None:
            signature = fb.CreateNumpyVector(np.asarray(tensor.shape_signature, dtype=np.int32))
        name = fb.CreateString(tensor.name)
        tflite.TensorStart(fb)
        tflite.TensorAddShape(fb, shape)
        if signature is not None:
            tflite.TensorAddShapeSignature(fb, signature)
        tflite.TensorAddType(fb, TENSOR_TYPES[tensor.dtype])
        tflite.TensorAddBuffer(fb, tensor.buffer)
        tflite.TensorAddName(fb, name)
        if quant is not None:
            tflite.TensorAddQuantization(fb, quant)
        return int(tflite.TensorEnd(fb))

    @staticmethod
    def _write_operator(fb: flatbuffers.Builder, op: _Operator) -> int:
        options = op.options(fb) if op.options is not None else None
        custom = None
        if op.custom_options is not None:
            custom = fb.CreateNumpyVector(np.frombuffer(op.custom_options, dtype=np.uint8))
        inputs = fb.CreateNumpyVector(np.asarray(op.inputs, dtype=np.int32))
        outputs = fb.CreateNumpyVector(np.asarray(op.outputs, dtype=np.int32))
        tflite.OperatorStart(fb)
        tflite.OperatorAddOpcodeIndex(fb, op.opcode)
        tflite.OperatorAddInputs(fb, inputs)
        tflite.OperatorAddOutputs(fb, outputs)
        if options is not None:
            tflite.OperatorAddBuiltinOptionsType(fb, options[0])
            tflite.OperatorAddBuiltinOptions(fb, options[1])
        if custom is not None:
            tflite.OperatorAddCustomOptions(fb, custom)
            tflite.OperatorAddCustomOptionsFormat(fb, _FLEXBUFFERS_FORMAT)
        return int(tflite.OperatorEnd(fb))

    @staticmethod
    def _write_opcode(
        fb: flatbuffers.Builder, code: int, custom_code: Optional[str], version: int
    ) -> int:
        custom = fb.CreateString(custom_code) if custom_code is not None else None
        tflite.OperatorCodeStart(fb)
        # Readers of old schemas only see deprecated_builtin_code, which saturates at 127.
        tflite.OperatorCodeAddDeprecatedBuiltinCode(fb, min(code, 127))
        tflite.OperatorCodeAddBuiltinCode(fb, code)
        tflite.OperatorCodeAddVersion(fb, version)
        if custom is not None:
            tflite.OperatorCodeAddCustomCode(fb, custom)
        return int(tflite.OperatorCodeEnd(fb))


def _end_offsets(fb: flatbuffers.Builder, offsets: Sequence[int]) -> int:
    """Finish a vector of table offsets already started with the matching Start*Vector call."""
    for offset in reversed(offsets):
        fb.PrependUOffsetTRelative(offset)
    return int(fb.EndVector())
