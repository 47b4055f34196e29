"""A structural check of .tflite flatbuffers, in Python, before any runtime parses them.

Runtimes verify a flatbuffer's layout at best, not its meaning; several crash on a tensor
index of -1 or a subgraph output that does not exist. This reads every table through the
``tflite`` flatbuffer reader with bounds checked before each vector is walked, so garbage
gives ModelError naming what is wrong, never a crash or a huge loop."""

from __future__ import annotations

import math
import struct
from typing import Any

from ..errors import ModelError

__all__ = ["check_tflite", "custom_ops", "unresolved_custom_ops", "MAX_INPUT_SIDE", "MAX_INPUT_BYTES"]

MAX_TENSORS = 1 << 20
MAX_DIM = 1 << 30
# The largest model input any backend is allowed to allocate: a side over 8192 pixels or more
# than 256 MiB is a corrupt or mistaken model ([1, 40000, 40000, 3] grew to 24 GB and was killed).
MAX_INPUT_SIDE = 8192
MAX_INPUT_BYTES = 256 << 20
# Bytes per element of each tflite.TensorType (STRING, RESOURCE, VARIANT count as 1).
_TYPE_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 5: 1, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8, 15: 4, 16: 2, 17: 1}


def _count(n: int, what: str, limit: int, name: str) -> int:
    if n < 0 or n > limit:
        raise ModelError(f"{name}: {what} count {n} is impossible for this file; the model is corrupt")
    return n


def check_tflite(data: bytes, name: str) -> None:
    if len(data) < 16:
        raise ModelError(f"{name}: {len(data)} bytes is too short for a .tflite model; pass a .tflite file")
    if data[4:8] != b"TFL3":
        raise ModelError(f"{name}: not a TensorFlow Lite model (no TFL3 identifier); pass a .tflite file")
    try:
        _walk(data, name)
    except ModelError:
        raise
    except (struct.error, IndexError, ValueError, TypeError, UnicodeDecodeError, AttributeError) as e:
        raise ModelError(f"{name}: the model is corrupt or truncated ({type(e).__name__}: {e})") from None


def _walk(data: bytes, name: str) -> None:
    import tflite

    size = len(data)
    model: Any = tflite.Model.GetRootAsModel(data, 0)
    # Each vector element takes at least 4 bytes in the file: longer vectors are garbage.
    limit = size // 4
    ncodes = _count(model.OperatorCodesLength(), "operator code", limit, name)
    nbuffers = _count(model.BuffersLength(), "buffer", limit, name)
    nsub = _count(model.SubgraphsLength(), "subgraph", limit, name)
    if nsub < 1:
        raise ModelError(f"{name}: the model has no subgraph")
    for b in range(nbuffers):
        buf = model.Buffers(b)
        n = buf.DataLength()
        field = buf._tab.Offset(4)  # Buffer.data
        if n and (buf._tab.Vector(field) + n > size):
            raise ModelError(f"{name}: buffer {b} claims {n} bytes past the end of the file; the model is truncated")
        offset, bsize = buf.Offset(), buf.Size()
        if offset and (offset + bsize > size):
            raise ModelError(f"{name}: buffer {b} lies outside the file (offset {offset}, size {bsize})")
    for c in range(ncodes):
        code = model.OperatorCodes(c)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == 32 and code.CustomCode() is None:  # CUSTOM without a name
            raise ModelError(f"{name}: operator code {c} is a custom op without a name")
        _utf8(code.CustomCode(), f"the name of custom operator code {c}", name)
    custom = {c: model.OperatorCodes(c).CustomCode() for c in range(ncodes)}
    for s in range(nsub):
        sg = model.Subgraphs(s)
        ntensors = _count(sg.TensorsLength(), "tensor", min(limit, MAX_TENSORS), name)
        for t in range(ntensors):
            tensor = sg.Tensors(t)
            _utf8(tensor.Name(), f"the name of tensor {t} of subgraph {s}", name)
            if b"\0" in (tensor.Name() or b""):  # runtimes read names as C strings: two could become one
                raise ModelError(f"{name}: the name of tensor {t} of subgraph {s} has a NUL byte; the model is corrupt")
            if not 0 <= tensor.Buffer() < max(nbuffers, 1):
                raise ModelError(f"{name}: tensor {t} of subgraph {s} points at buffer {tensor.Buffer()} of {nbuffers}")
            for d in range(_count(tensor.ShapeLength(), "dimension", 16, name)):
                # -1 belongs in shape_signature only: a -1 here sizes a buffer runtimes then overrun
                if not 0 <= tensor.Shape(d) <= MAX_DIM:
                    raise ModelError(f"{name}: tensor {t} of subgraph {s} has dimension {tensor.Shape(d)}")
            _check_quantization(tensor, f"{name}: tensor {t} of subgraph {s}", size)
        for what, length, get in (("input", sg.InputsLength(), sg.Inputs), ("output", sg.OutputsLength(), sg.Outputs)):
            for i in range(_count(length, f"subgraph {what}", ntensors, name)):
                if not 0 <= get(i) < ntensors:
                    raise ModelError(f"{name}: subgraph {s} {what} {i} is tensor {get(i)}, which does not exist")
        if s == 0:  # the model's inputs: checked before any runtime allocates them
            for i in range(sg.InputsLength()):
                _check_input_size(sg.Tensors(sg.Inputs(i)), name)
        for o in range(_count(sg.OperatorsLength(), "operator", limit, name)):
            op = sg.Operators(o)
            if not 0 <= op.OpcodeIndex() < ncodes:
                raise ModelError(f"{name}: operator {o} of subgraph {s} uses operator code {op.OpcodeIndex()} of {ncodes}")
            for what, length, get in (("input", op.InputsLength(), op.Inputs), ("output", op.OutputsLength(), op.Outputs)):
                for i in range(_count(length, f"operator {what}", ntensors + 1, name)):
                    index = get(i)
                    # -1 marks an omitted optional input; an output must exist
                    if not (-1 if what == "input" else 0) <= index < ntensors:
                        raise ModelError(f"{name}: operator {o} of subgraph {s} {what} {i} is tensor {index}, which does not exist")
            if custom.get(op.OpcodeIndex()) == b"TFLite_Detection_PostProcess":
                _check_postprocess_options(op.CustomOptionsAsNumpy().tobytes() if op.CustomOptionsLength() else b"", name)
        _check_dataflow(model, sg, s, name)


def _check_dataflow(model: Any, sg: Any, s: int, name: str) -> None:
    # Each tensor has one writer: a subgraph input, a constant, or one operator. A second
    # writer (a fuzzed output index) made LiteRT's XNNPACK delegate crash while reshaping.
    writer = {sg.Inputs(i): "a subgraph input" for i in range(sg.InputsLength())}
    for t in range(sg.TensorsLength()):
        tensor = sg.Tensors(t)
        if t not in writer and model.Buffers(tensor.Buffer()).DataLength() > 0:
            writer[t] = "a constant"
    for o in range(sg.OperatorsLength()):
        op = sg.Operators(o)
        for i in range(op.OutputsLength()):
            index = op.Outputs(i)
            if index in writer:
                raise ModelError(
                    f"{name}: operator {o} of subgraph {s} writes tensor {index}, which is already "
                    f"{writer[index]}; the model is corrupt"
                )
            writer[index] = f"written by operator {o}"


def _check_quantization(tensor: Any, where: str, size: int) -> None:
    # LiteRT's loader reads zero_point[i] for each scale[i] without checking that they pair up
    # (a fuzzed model with scales but no zero points crashed it); TFLite refuses such a model.
    q = tensor.Quantization()
    if q is None:
        return
    for slot, what, itemsize in ((8, "scale", 4), (10, "zero_point", 8)):
        field = q._tab.Offset(slot)
        if field:
            n = q._tab.VectorLen(field)
            if q._tab.Vector(field) + n * itemsize > size:
                raise ModelError(f"{where}: its quantization {what} vector ({n} values) runs past the end of the file")
    scales, zero_points = q.ScaleLength(), q.ZeroPointLength()
    if scales and zero_points != scales:
        raise ModelError(
            f"{where}: its quantization has {scales} scale values and {zero_points} zero points; "
            "they must pair up (the model is corrupt)"
        )
    if scales > 1 and not 0 <= q.QuantizedDimension() < tensor.ShapeLength():
        raise ModelError(
            f"{where}: its per-channel quantization runs along dimension {q.QuantizedDimension()} of a "
            f"{tensor.ShapeLength()}-dimensional tensor; the model is corrupt"
        )


def _utf8(text: "bytes | None", what: str, name: str) -> None:
    # Runtimes decode names as UTF-8 (tflite_runtime's get_output_details raises UnicodeDecodeError).
    if text is not None:
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelError(f"{name}: {what} is not UTF-8 text; the model is corrupt") from None


# TFLite's kernel reads these from the op's flexbuffer options without checking them: a missing
# key or an absurd value crashes the interpreter while it builds.
_POSTPROCESS_INTS = {"max_detections": 10000, "max_classes_per_detection": 100000, "num_classes": 100000}
_POSTPROCESS_FLOATS = ("nms_score_threshold", "nms_iou_threshold", "y_scale", "x_scale", "h_scale", "w_scale")


def _check_postprocess_options(raw: bytes, name: str) -> None:
    from flatbuffers import flexbuffers

    where = f"{name}: TFLite_Detection_PostProcess options"
    try:
        options = flexbuffers.Loads(raw) if raw else {}
    except Exception as e:  # the flexbuffer reader raises whatever garbage makes it raise
        raise ModelError(f"{where} are not readable ({type(e).__name__}); the model is corrupt") from None
    if not isinstance(options, dict):
        raise ModelError(f"{where} are not a map; the model is corrupt")
    for key, limit in _POSTPROCESS_INTS.items():
        value = options.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
            raise ModelError(f"{where}: {key} is {value!r}, not an integer from 1 to {limit}; the model is corrupt")
    per_class = options.get("detections_per_class", 100)
    if not isinstance(per_class, int) or not 1 <= per_class <= _POSTPROCESS_INTS["max_detections"] * 100:
        raise ModelError(f"{where}: detections_per_class is {per_class!r}; the model is corrupt")
    for key in _POSTPROCESS_FLOATS:
        value = options.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ModelError(f"{where}: {key} is {value!r}, not a finite number; the model is corrupt")
        if key.endswith("_scale") and value <= 0:
            raise ModelError(f"{where}: {key} is {value!r}; box coder scales must be positive")


def check_input_size(shape: "tuple[int, ...]", itemsize: int, what: str) -> None:
    """ModelError if an input of `shape` (an image [1, H, W, C] or any other) is larger than any
    frame model needs: a side over MAX_INPUT_SIDE or more than MAX_INPUT_BYTES."""
    dims = [max(int(d), 1) for d in shape]  # -1 (unknown) counts as 1
    sides = dims[1:3] if len(dims) == 4 else []
    if any(side > MAX_INPUT_SIDE for side in sides):
        raise ModelError(
            f"{what} is {list(shape)}, with a side over the limit of {MAX_INPUT_SIDE} pixels; "
            "the model is corrupt or not a frame model (resize its input)"
        )
    nbytes = itemsize
    for d in dims:
        nbytes *= d  # Python ints: no overflow
    if nbytes > MAX_INPUT_BYTES:
        raise ModelError(
            f"{what} is {list(shape)} ({nbytes} bytes), over the limit of {MAX_INPUT_BYTES >> 20} MiB "
            "per input; the model is corrupt or not a frame model"
        )


def _check_input_size(tensor: Any, name: str) -> None:
    shape = tuple(int(tensor.Shape(d)) for d in range(tensor.ShapeLength()))
    label = tensor.Name()
    label = label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label)
    check_input_size(shape, _TYPE_BYTES.get(int(tensor.Type()), 1), f"{name}: input {label!r}")


# Custom ops some streamcore backend resolves: the Edge TPU's own (edgetpu backend), and the SSD
# postprocess (builtin-registered in TFLite and LiteRT; openvino decodes it natively).
RESOLVED_CUSTOM_OPS = frozenset({"edgetpu-custom-op", "TFLite_Detection_PostProcess"})
_MEDIAPIPE = ("MediaPipe's own kernel, which MediaPipe's op resolver registers "
              "(mediapipe/util/tflite/operations)")
_CUSTOM_OP_RUNNERS = {
    "PosenetDecoderOp": (
        "Coral's PoseNet decoder, which libcoral registers (coral::RegisterPosenetDecoderOp) and "
        "project-posenet loads as its posenet_decoder.so delegate; use the PoseNet model without the "
        "decoder op (its heatmap and offset outputs) with your own adapter, or a MoveNet model with "
        "streamcore.Pose()"),
    "Convolution2DTransposeBias": _MEDIAPIPE,
    "MaxPoolingWithArgmax2D": _MEDIAPIPE,
    "MaxUnpooling2D": _MEDIAPIPE,
}


def custom_ops(data: bytes) -> "list[str]":
    """The custom ops that operators of a checked model use, in first-use order."""
    import tflite

    model: Any = tflite.Model.GetRootAsModel(data, 0)
    codes = [model.OperatorCodes(c).CustomCode() for c in range(model.OperatorCodesLength())]
    used: "list[str]" = []
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        for o in range(sg.OperatorsLength()):
            code = codes[sg.Operators(o).OpcodeIndex()]
            if code is not None and code.decode("utf-8") not in used:
                used.append(code.decode("utf-8"))
    return used


def unresolved_custom_ops(ops: "list[str]", name: str) -> "str | None":
    """Why no backend can run a model using the custom ops ``ops``, naming each op no backend
    resolves and what would run it; None when every op is resolved somewhere."""
    unknown = [op for op in ops if op not in RESOLVED_CUSTOM_OPS]
    if not unknown:
        return None
    what = []
    for op in unknown:
        if op.startswith("Flex"):
            runner = ("a TensorFlow op the converter kept (Select TF ops), which only TensorFlow's Flex "
                      "delegate runs; convert the model with TFLite builtin ops only")
        else:
            runner = _CUSTOM_OP_RUNNERS.get(op, (
                f"a kernel only a runtime that registers {op!r} runs (TFLite's MutableOpResolver::AddCustom, "
                "or a delegate that claims it)"))
        what.append(f"{'it' if len(unknown) == 1 else repr(op)} is {runner}")
    ops_word = "ops" if len(unknown) > 1 else "op"
    return (f"{name} uses the custom {ops_word} {', '.join(repr(op) for op in unknown)}, which no streamcore "
            f"backend resolves (they resolve edgetpu-custom-op, on the Edge TPU, and "
            f"TFLite_Detection_PostProcess): " + "; ".join(what))
