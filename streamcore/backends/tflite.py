"""The ``tflite`` backend: tflite_runtime's C++ interpreter, with XNNPACK (QS8|QU8) on the
CPU. The Edge TPU backend builds its interpreters here too.

tflite_runtime is imported on first use, never at ``import streamcore``: on Python 3.12+ it
does not exist and the other backends serve."""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._native import core
from ..engine.model import Model, image_input_index, tensor_infos
from ..engine.model_check import check_input_size
from ..errors import BackendUnavailableError, DeviceNotFoundError, ModelError, StreamcoreError
from ..types import TensorInfo
from .base import BuiltDevice, CpuOnly, Placement, output_layout
from .specs import DeviceRequest, positive

__all__ = ["TfliteBackend", "build_cpu_device", "build_device", "edgetpu_refusal", "format_refusal", "load_tflite"]

TESTED_VERSIONS = ("2.14",)
PIP = "pip install tflite-runtime==2.14.0 (CPython 3.8-3.11 with numpy<2)"

_lock = threading.Lock()
_loaded: Optional[Tuple[str, str]] = None  # (version, library path)


def load_tflite() -> Tuple[str, str]:
    """Imports tflite_runtime and resolves its C++ API: (version, extension path).
    BackendUnavailableError names the pip command when it is missing."""
    global _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        try:
            import tflite_runtime
            from tflite_runtime import _pywrap_tensorflow_interpreter_wrapper as wrapper
        except ImportError as e:
            raise BackendUnavailableError(f"the tflite backend needs tflite_runtime ({e}); {PIP}") from None
        version = str(getattr(tflite_runtime, "__version__", "unknown"))
        # Any build that exports the same C++ API works (Frigate's 2.17 builds, say): the
        # symbols are resolved and checked one by one; a missing one is named.
        core.load_tflite(wrapper.__file__)
        _loaded = (version, str(wrapper.__file__))
        return _loaded


def _interpreter_classes() -> Tuple[Any, Any, Any]:
    load_tflite()
    from tflite_runtime.interpreter import Interpreter, InterpreterWithCustomOps, OpResolverType

    return Interpreter, InterpreterWithCustomOps, OpResolverType


def format_refusal(model: Model, runtime: str) -> Optional[str]:
    if model.format == "tflite":
        return None
    return f"{model.name} is a {model.format} model; {runtime} runs .tflite files (the openvino backend reads it)"


def edgetpu_refusal(model: Model, where: str) -> Optional[str]:
    if not model.is_edgetpu:
        return None
    return (
        f"{model.name} is compiled for the Edge TPU (it has an edgetpu-custom-op node) and "
        f"cannot run on {where}; use devices='usb', 'pci', 'auto' or 'sim:N' (the edgetpu "
        "backend), or the model's CPU version (without _edgetpu) on cpu, litert:cpu or openvino"
    )


def _tensor_address(interpreter: Any, index: int) -> int:
    view = interpreter.tensor(index)()
    return int(view.ctypes.data)


def build_device(
    model: Model,
    name: str,
    kind: str,
    *,
    custom_op_registerers: Optional[Sequence[Callable[[int], None]]] = None,
    bind: Callable[[int], List[Any]],
    probe: Any = None,
) -> BuiltDevice:
    """Creates the interpreter, lets `bind` attach it to its hardware (returning what must
    outlive the interpreter), allocates tensors and warms it up once."""
    Interpreter, InterpreterWithCustomOps, OpResolverType = _interpreter_classes()
    why = format_refusal(model, "TFLite")
    if why:
        raise ModelError(why)
    core.verify_model(model.data)  # TFLite's own flatbuffer verifier, after streamcore's check
    try:
        if custom_op_registerers:
            interpreter: Any = InterpreterWithCustomOps(
                custom_op_registerers=list(custom_op_registerers),
                model_content=model.data,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                num_threads=1,
            )
        else:
            interpreter = Interpreter(
                model_content=model.data,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                num_threads=1,
            )
    except (ValueError, RuntimeError) as e:
        raise ModelError(f"{model.name}: TFLite could not build an interpreter: {e}") from None
    # The input is described (and refused if absurd) before AllocateTensors sizes anything.
    inputs = tensor_infos(interpreter.get_input_details())
    # A later segment's inputs all come from the previous segment; otherwise preprocess fills
    # the image input and the caller gives any other by name.
    image_input = image_input_index(inputs, model.name) if model.takes_frames else -1
    for info in inputs:
        check_input_size(tuple(info.shape), info.dtype.itemsize, f"{model.name}: input {info.name!r}")
    handle = int(interpreter._native_handle())
    keepalive = bind(handle)
    failure: Optional[Tuple[type, str]] = None
    try:
        core.allocate_tensors(handle)
        # One invoke settles any tensor that is only sized at the first run (SSD postprocess). It
        # runs on zeros (the arena may hold anything), so the probe below runs on a different input.
        for info in inputs:
            interpreter.tensor(info.index)().fill(0)
        core.invoke(handle)
        outputs = tensor_infos(interpreter.get_output_details())
        _refuse_dynamic_outputs(interpreter, handle, model, inputs, outputs)
    except StreamcoreError as e:
        failure = (type(e), str(e))
    if failure is not None:
        # Release the interpreter, then the device it is bound to, before raising: a traceback
        # holding them would keep an Edge TPU open after the refusal.
        del interpreter
        keepalive.clear()
        raise failure[0](failure[1])
    native = core.tflite_device(
        name=name,
        kind=f"tflite:{kind}",
        interpreter=handle,
        owners=[interpreter, *keepalive],
        input_ptrs=[_tensor_address(interpreter, info.index) for info in inputs],
        inputs=[_meta(info) for info in inputs],
        image_input=image_input,
        output_ptrs=[_tensor_address(interpreter, info.index) for info in outputs],
        outputs=[_meta(info) for info in outputs],
        prefetch=kind != "cpu",
        probe=probe,
    )
    native.set_output_layout([(offset, nbytes) for _, _, offset, nbytes in output_layout(outputs)])
    return BuiltDevice(native, name, kind, inputs, outputs, "tflite", image_input=image_input)


# Ops whose output size depends on the input values: refused whatever a probe run shows.
_DATA_DEPENDENT_OPS = frozenset({"WHERE", "UNIQUE"})
# Dynamic-allocated, but fixed in size once the first invoke has run (the SSD models' outputs).
_FIXED_AFTER_FIRST_RUN = frozenset({"TFLite_Detection_PostProcess"})


def output_producers(data: bytes) -> Dict[int, str]:
    """{tensor index: the op that writes it} for the main subgraph (builtin name or custom code)."""
    return {index: op for index, (op, _) in _written_tensors(data).items()}


def _written_tensors(data: bytes) -> Dict[int, Tuple[str, List[int]]]:
    """{tensor index: (the op that writes it, the tensor's shape as the file states it, with -1
    where its shape_signature says the size is unknown)} for the main subgraph."""
    import tflite

    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if isinstance(v, int) and not k.startswith("_")}
    model: Any = tflite.Model.GetRootAsModel(data, 0)
    codes = []
    for c in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(c)
        custom = code.CustomCode()
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        codes.append(custom.decode("utf-8", "replace") if custom else names.get(builtin, str(builtin)))
    written: Dict[int, Tuple[str, List[int]]] = {}
    sg = model.Subgraphs(0)
    for o in range(sg.OperatorsLength()):
        op = sg.Operators(o)
        for i in range(op.OutputsLength()):
            index = int(op.Outputs(i))
            tensor = sg.Tensors(index)
            shape = [int(tensor.Shape(d)) for d in range(tensor.ShapeLength())]
            signature = [int(tensor.ShapeSignature(d)) for d in range(tensor.ShapeSignatureLength())]
            if len(signature) == len(shape):
                shape = [-1 if sig < 0 else dim for dim, sig in zip(shape, signature)]
            written[index] = (codes[op.OpcodeIndex()], shape)
    return written


def _refuse_dynamic_outputs(
    interpreter: Any, handle: int, model: Model, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]
) -> None:
    """The device copies each output from where TFLite left it at build time: an output whose
    size is known only after a run (TFLite reallocates it during invoke) would be read from
    freed memory, or stale. Such models are refused here, after the warm-up invoke:

    - an output written by an op whose output size follows the input values (WHERE, UNIQUE);
    - an output whose shape_signature has an unknown (-1) dimension, other than a batch
      dimension the input shares;
    - an output whose shape or data pointer changes when the model runs again on another input.

    TFLite_Detection_PostProcess outputs are dynamic-allocated but fixed after the first invoke
    (the SSD models): they are kept."""
    written = _written_tensors(model.data)
    producers = {index: op for index, (op, _) in written.items()}
    input_batch_unknown = any(_signature(interpreter, info.index)[:1] == [-1] for info in inputs)

    def state(info: TensorInfo) -> Tuple[int, Tuple[int, ...]]:
        view = interpreter.tensor(info.index)()
        return int(view.ctypes.data), tuple(int(d) for d in view.shape)

    def refuse(info: TensorInfo, why: str) -> None:
        raise ModelError(
            f"{model.name}: output {info.name!r} has a size known only after a run ({why}); "
            "run it on litert:cpu or openvino, which report them"
        )

    checked = [info for info in outputs if producers.get(info.index) not in _FIXED_AFTER_FIRST_RUN]
    for info in checked:
        op = producers.get(info.index)
        if op in _DATA_DEPENDENT_OPS:
            refuse(info, f"it is written by {op}")
        signature = _signature(interpreter, info.index)
        unknown = [i for i, d in enumerate(signature) if d < 0 and not (i == 0 and input_batch_unknown)]
        if unknown:
            refuse(info, f"its shape signature {signature} has unknown dimensions")
        ran = tuple(info.shape)  # after the warm-up invoke
        stated = written[info.index][1] if info.index in written else list(ran)
        if len(ran) != len(stated) or any(d >= 0 and d != r for d, r in zip(stated, ran)):
            refuse(info, f"it is {list(ran)} after a run, not the model's {stated}")
    if not checked:
        return
    before = {info.index: state(info) for info in checked}
    # Run again on another input, a ramp through every byte value (the warm-up ran on the
    # zeroed arena): data-dependent sizes move.
    for input_info in inputs:
        image = interpreter.tensor(input_info.index)()
        ramp = (np.arange(image.size, dtype=np.int64) % 256).astype(np.uint8).reshape(image.shape)
        if image.dtype.itemsize == 1:
            image[...] = ramp.view(image.dtype)
        else:
            image[...] = (ramp / 127.5 - 1.0).astype(image.dtype)
        del image  # no view of TFLite's memory is held across an invoke
    core.invoke(handle)
    for info in checked:
        address, shape = state(info)
        if shape != before[info.index][1]:
            refuse(info, f"its shape went from {list(before[info.index][1])} to {list(shape)} on another input")
        if address != before[info.index][0]:
            refuse(info, "TFLite moved it to new memory on another input")


def _signature(interpreter: Any, index: int) -> List[int]:
    details = interpreter._get_tensor_details(index, 0)
    signature = details.get("shape_signature", details["shape"])
    return [int(d) for d in signature]


def _meta(info: TensorInfo) -> Any:
    return core.TensorMeta(info.name, info.dtype.name, list(info.shape), info.scale, info.zero_point)


def build_cpu_device(model: Model, name: str) -> BuiltDevice:
    why = edgetpu_refusal(model, "tflite:cpu")
    if why:
        raise ModelError(why)

    def bind(handle: int) -> List[Any]:
        delegate = core.XnnpackDelegate(1)
        delegate.apply_to(handle)
        return [delegate]

    return build_device(model, name, "cpu", bind=bind)


class TfliteBackend(CpuOnly):
    name = "tflite"
    spec_forms = "tflite:cpu[:N]"

    def parse(self, spec: str) -> Optional[DeviceRequest]:
        s = spec.lower()
        if s in ("tflite", "tflite:cpu"):
            return DeviceRequest("cpu", 1, backend="tflite")
        if s.startswith("tflite:cpu:") and s[11:].isdigit():
            return DeviceRequest("cpu", positive(s[11:], spec), backend="tflite")
        return None

    def runtime(self) -> Tuple[str, str]:
        try:
            return load_tflite()
        except ModelError as e:  # a symbol missing from this tflite_runtime build
            raise BackendUnavailableError(
                f"tflite_runtime does not export the C++ API streamcore calls ({e}); {PIP}") from None

    def library(self, loaded: Tuple[str, str]) -> Tuple[str, str]:
        version, path = loaded
        return path, version

    def environment(self) -> Dict[str, Any]:
        env = super().environment()
        if env["available"] and not str(env["version"]).startswith(TESTED_VERSIONS):
            env["reason"] = f"tested with {', '.join(TESTED_VERSIONS)}"
        return env

    def place(self, requests: Sequence[DeviceRequest], pool: Any) -> List[Placement]:
        self.runtime()
        count = sum(r.count for r in requests)
        return [Placement(f"cpu{i}", self.name) for i in range(count)]

    def refuse(self, model: Model) -> Optional[str]:
        return format_refusal(model, "TFLite") or edgetpu_refusal(model, "tflite:cpu")

    def build(self, model: Model, placement: Placement, pool: Any) -> BuiltDevice:
        return build_cpu_device(model, placement.name)


BACKEND = TfliteBackend()
