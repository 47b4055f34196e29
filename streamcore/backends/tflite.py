"""Builds native devices: a TFLite interpreter bound to one CPU thread or one accelerator,
with its input and output buffers located for the native workers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
from tflite_runtime.interpreter import Interpreter, InterpreterWithCustomOps, OpResolverType

from .._native import core
from ..engine.model import Model, image_input_shape, tensor_infos
from ..errors import ModelError
from ..types import TensorInfo

__all__ = ["BuiltDevice", "build_cpu_device", "build_device", "output_layout"]

_ALIGN = 64


@dataclass
class BuiltDevice:
    native: Any  # _core.Device
    name: str
    kind: str  # cpu | tpu | sim
    inputs: List[TensorInfo]
    outputs: List[TensorInfo]
    tpu: Any = None  # the opened _core.EdgeTpuDevice, for TPUs

    @property
    def simulated(self) -> bool:
        return self.kind == "sim"


def output_layout(outputs: Sequence[TensorInfo]) -> List[Tuple[str, List[int], int, int]]:
    """(dtype, shape, offset, bytes) of each output inside one output block."""
    layout = []
    offset = 0
    for info in outputs:
        nbytes = int(np.prod(info.shape, dtype=np.int64)) * info.dtype.itemsize
        layout.append((info.dtype.name, list(info.shape), offset, nbytes))
        offset += (nbytes + _ALIGN - 1) // _ALIGN * _ALIGN
    return layout


def _tensor_address(interpreter: Interpreter, index: int) -> int:
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
    try:
        if custom_op_registerers:
            interpreter: Interpreter = InterpreterWithCustomOps(
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
    handle = int(interpreter._native_handle())
    keepalive = bind(handle)
    core.allocate_tensors(handle)

    inputs = tensor_infos(interpreter.get_input_details())
    if len(inputs) != 1:
        raise ModelError(
            f"{model.name}: has {len(inputs)} inputs; streamcore runs single-input image models"
        )
    image_input_shape(inputs[0], model.name)
    input_info = inputs[0]
    # One invoke settles any tensor that is only sized at the first run (SSD postprocess).
    core.invoke(handle)
    outputs = tensor_infos(interpreter.get_output_details())
    native = core.tflite_device(
        name=name,
        kind=f"tflite:{kind}",
        interpreter=handle,
        owners=[interpreter, *keepalive],
        input_ptr=_tensor_address(interpreter, input_info.index),
        inputs=[_meta(input_info)],
        output_ptrs=[_tensor_address(interpreter, info.index) for info in outputs],
        outputs=[_meta(info) for info in outputs],
        prefetch=kind != "cpu",
        probe=probe,
    )
    native.set_output_layout([(offset, nbytes) for _, _, offset, nbytes in output_layout(outputs)])
    return BuiltDevice(native, name, kind, inputs, outputs)


def _meta(info: TensorInfo) -> Any:
    return core.TensorMeta(info.name, info.dtype.name, list(info.shape), info.scale, info.zero_point)


def build_cpu_device(model: Model, name: str) -> BuiltDevice:
    if model.is_edgetpu:
        raise ModelError(
            f"{model.name} is compiled for the Edge TPU (it has an edgetpu-custom-op node) and "
            "cannot run on a CPU device; use devices='usb', 'pci', 'auto' or 'sim:N', or the "
            "model's CPU version (without _edgetpu)"
        )

    def bind(handle: int) -> List[Any]:
        delegate = core.XnnpackDelegate(1)
        delegate.apply_to(handle)
        return [delegate]

    return build_device(model, name, "cpu", bind=bind)
