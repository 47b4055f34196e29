"""What every backend provides, and the device it builds.

A backend (``tflite``, ``edgetpu``, ``litert``, ``openvino``, ...) parses its own device specs,
says whether its runtime is installed (and if not, what to install), enumerates and opens its
devices, and builds a native device for a model or refuses the model with a reason. The pool,
health monitor, runner, bench and CLI only talk to backends through this protocol and the
registry; adding one is a module plus a line in ``backends/__init__.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, NamedTuple, Optional, Protocol, Sequence, Tuple

import numpy as np

from ..engine.model import image_input_shape
from ..errors import BackendUnavailableError, ModelError
from ..types import TensorInfo
from .specs import DeviceRequest

if TYPE_CHECKING:
    from ..engine.model import Model

__all__ = ["Backend", "BuiltDevice", "Placement", "output_layout", "infos_from_native"]

_ALIGN = 64


class Placement(NamedTuple):
    """Where one device of an engine goes: its name (``cpu0``, ``usb1``, ``ov-gpu0``), the
    backend that builds it, and the backend's own handles (a runtime, a device record)."""

    name: str
    backend: str
    runtime: Any = None
    record: Any = None


@dataclass
class BuiltDevice:
    native: Any  # _core.Device
    name: str
    kind: str  # cpu | tpu | sim | gpu | npu | ...: what the device is, whatever the backend
    inputs: List[TensorInfo]
    outputs: List[TensorInfo]
    backend: str = "tflite"
    tpu: Any = None  # the opened _core.EdgeTpuDevice, for Edge TPUs
    image_input: int = 0  # the input preprocess fills; -1: none (a later segment)

    @property
    def simulated(self) -> bool:
        return self.kind == "sim"


class Backend(Protocol):
    name: str
    spec_forms: str  # for help texts: "tflite:cpu[:N]"

    def parse(self, spec: str) -> Optional[DeviceRequest]:
        """The request `spec` (lower-cased, stripped) stands for, or None if it isn't this
        backend's. Raises InputError for a spec of its form with bad values."""

    def unavailable(self) -> Optional[str]:
        """None when the runtime loads; else why not, and the pip command that fixes it."""

    def environment(self) -> Dict[str, Any]:
        """{"backend", "available", "library", "version", "reason"} for bench and `devices`."""

    def enumerate(self) -> List[Dict[str, Any]]:
        """The devices present, as {"name", "type", "path", "state", "simulated"} dicts."""

    def place(self, requests: Sequence[DeviceRequest], pool: Any) -> List[Placement]:
        """The devices the requests stand for; DeviceNotFoundError names what exists."""

    def refuse(self, model: "Model") -> Optional[str]:
        """Why this backend cannot run `model`, or None."""

    def build(self, model: "Model", placement: Placement, pool: Any) -> BuiltDevice:
        """A native device running `model` at `placement`; ModelError if it cannot."""

    def reopenable(self, placement: Placement) -> bool:
        """True when a failed device can be closed and opened again (Edge TPUs)."""

    def release(self, placement: Placement, pool: Any) -> None:
        """Drops what the pool holds open for a device about to be reopened."""

    def present(self, placement: Placement) -> bool:
        """Whether the device is there to reopen."""


class CpuOnly:
    """Defaults for backends whose devices are not reopened (the failed device stays out),
    and whose availability is whether their runtime loads (`runtime()`)."""

    name: str

    def runtime(self) -> Any:
        """The loaded runtime; BackendUnavailableError (naming the pip command) if it cannot load."""
        raise NotImplementedError

    def library(self, runtime: Any) -> Tuple[str, str]:
        """(library path, version) of a loaded runtime."""
        raise NotImplementedError

    def unavailable(self) -> Optional[str]:
        try:
            self.runtime()
        except BackendUnavailableError as e:
            return str(e)
        return None

    def enumerate(self) -> List[Dict[str, Any]]:
        if self.unavailable() is not None:
            return []
        return [{"name": f"{self.name}:cpu", "type": "cpu", "path": None, "state": "available", "simulated": False}]

    def environment(self) -> Dict[str, Any]:
        try:
            path, version = self.library(self.runtime())
        except BackendUnavailableError as e:
            return {"backend": self.name, "available": False, "library": None, "version": None, "reason": str(e)}
        return {"backend": self.name, "available": True, "library": path, "version": version, "reason": None}

    def reopenable(self, placement: Placement) -> bool:
        return False

    def release(self, placement: Placement, pool: Any) -> None:
        return None

    def present(self, placement: Placement) -> bool:
        return True


def output_layout(outputs: Sequence[TensorInfo]) -> List[Tuple[str, List[int], int, int]]:
    """(dtype, shape, offset, bytes) of each output inside one output block."""
    layout = []
    offset = 0
    for info in outputs:
        nbytes = int(np.prod(info.shape, dtype=np.int64)) * info.dtype.itemsize
        layout.append((info.dtype.name, list(info.shape), offset, nbytes))
        offset += (nbytes + _ALIGN - 1) // _ALIGN * _ALIGN
    return layout


def infos_from_native(metas: Sequence[Any]) -> List[TensorInfo]:
    """TensorInfo from a native device's describe_inputs()/describe_outputs()."""
    return [
        TensorInfo(
            name=str(m.name), index=i, shape=tuple(int(x) for x in m.shape), dtype=np.dtype(m.dtype),
            scale=float(m.scale), zero_point=int(m.zero_point),
        )
        for i, m in enumerate(metas)
    ]


def finish(native: Any, name: str, kind: str, backend: str, model_name: str, multi_input: bool = False) -> BuiltDevice:
    """A BuiltDevice for a native device that describes itself: checks its image input and
    sets its output block layout. Unless the backend feeds `multi_input` models, one input only."""

    inputs = infos_from_native(native.describe_inputs())
    outputs = infos_from_native(native.describe_outputs())
    if len(inputs) != 1 and not multi_input:
        raise ModelError(
            f"{model_name}: has {len(inputs)} inputs; the {backend} backend runs single-input image models "
            "here (multi-input models and the segments of a pipelined model run on tflite:cpu, litert:cpu "
            "and Edge TPUs)"
        )
    image = int(native.image_input)
    if image >= 0:
        image_input_shape(inputs[image], model_name)
    native.set_output_layout([(offset, nbytes) for _, _, offset, nbytes in output_layout(outputs)])
    return BuiltDevice(native, name, kind, inputs, outputs, backend, image_input=image)
