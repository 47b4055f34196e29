"""Edge TPUs through libedgetpu's C++ API: the runtime, device specs resolved against
``EnumerateEdgeTpu()``, options, and interpreters bound to an opened device.

The real runtime is ``$STREAMCORE_LIBEDGETPU`` or ``libedgetpu.so.1``. ``sim:N`` loads the
project's simulated libedgetpu through the same code; it is labelled as a simulator wherever
it appears and never stands in for real hardware.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .._native import core
from ..engine.model import Model
from ..errors import DeviceError, DeviceNotFoundError
from .sim import sim_library_path
from .specs import DeviceRequest
from .tflite import BuiltDevice, build_device

__all__ = ["TpuOptions", "TpuRecord", "load_runtime", "sim_runtime", "resolve", "build_tpu_device", "list_devices"]

log = logging.getLogger("streamcore.edgetpu")

DEFAULT_SIM_LATENCY_MS = 2.6  # Coral's MobileNet V2 figure on a USB 3 accelerator

_lock = threading.Lock()
_runtimes: Dict[str, Any] = {}
_sim_config: Optional[Tuple[int, float]] = None

_PERFORMANCE = {"low": "Low", "medium": "Medium", "high": "High", "max": "Max"}


@dataclass(frozen=True)
class TpuOptions:
    """libedgetpu's OpenDevice options. None leaves libedgetpu's default."""

    performance: Optional[str] = None  # low | medium | high | max (clock rate)
    usb_max_bulk_in_queue_length: Optional[int] = None

    def to_libedgetpu(self) -> Dict[str, str]:
        options: Dict[str, str] = {}
        if self.performance is not None:
            key = str(self.performance).lower()
            if key not in _PERFORMANCE:
                raise DeviceError(
                    f"performance={self.performance!r} is invalid; use low, medium, high or max"
                )
            options["Performance"] = _PERFORMANCE[key]
        if self.usb_max_bulk_in_queue_length is not None:
            n = self.usb_max_bulk_in_queue_length
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 255:
                raise DeviceError(
                    f"usb_max_bulk_in_queue_length={n!r} is invalid; use an integer from 0 to 255"
                )
            options["Usb.MaxBulkInQueueLength"] = str(n)
        return options


@dataclass(frozen=True)
class TpuRecord:
    type: str  # usb | pci | reference (the simulator)
    path: str
    simulated: bool

    @property
    def short_name(self) -> str:
        return "sim" if self.simulated else self.type


def load_runtime(path: Optional[str] = None) -> Any:
    """The real libedgetpu (loaded once per path). EdgeTpuUnavailableError if missing."""
    path = path or core.default_libedgetpu_path()
    with _lock:
        runtime = _runtimes.get(path)
        if runtime is None:
            runtime = core.EdgeTpuRuntime(path)
            _runtimes[path] = runtime
    return runtime


def sim_runtime(count: int, latency_ms: Optional[float]) -> Any:
    """The simulated libedgetpu with `count` devices, through the same loader."""
    global _sim_config
    runtime = load_runtime(sim_library_path())
    latency = DEFAULT_SIM_LATENCY_MS if latency_ms is None else latency_ms
    with _lock:
        configured = _sim_config
        if configured is None or count > configured[0] or latency != configured[1]:
            busy = runtime.opened_paths()
            if busy and configured is not None:
                raise DeviceError(
                    f"simulated Edge TPUs {', '.join(busy)} are in use with {configured[0]} "
                    f"device(s) at {configured[1]:g} ms; close that engine before asking for "
                    f"{count} at {latency:g} ms"
                )
            runtime.sim_configure(count, latency)
            _sim_config = (count, latency)
    return runtime


def records(runtime: Any) -> List[TpuRecord]:
    return [TpuRecord(t, p, bool(runtime.simulated)) for t, p in runtime.enumerate()]


def resolve(runtime: Any, requests: Sequence[DeviceRequest]) -> List[TpuRecord]:
    """Picks the enumerated devices that the requests name, in order, without repeats."""
    found = records(runtime)
    available = ", ".join(f"{r.type}:{r.path}" for r in found) or "none"
    chosen: List[TpuRecord] = []
    for request in requests:
        if request.kind == "sim":
            matches = found[: request.count] if request.index is None else found[request.index : request.index + 1]
            if len(found) < request.count:
                raise DeviceNotFoundError(
                    f"{request} asks for {request.count} simulated Edge TPUs but only "
                    f"{len(found)} are present"
                )
        elif request.kind == "auto":
            matches = found
        elif request.path is not None:
            matches = [r for r in found if r.path == request.path]
        else:
            pool = [r for r in found if request.tpu_type in (None, r.type)]
            if request.index is None:
                matches = pool
            elif request.index < len(pool):
                matches = [pool[request.index]]
            else:
                matches = []
        if not matches:
            raise DeviceNotFoundError(
                f"no Edge TPU matches {request} (found: {available}); check that it is plugged "
                "in, and list devices with `python -m streamcore devices`"
            )
        for record in matches:
            if record in chosen:
                raise DeviceError(f"Edge TPU {record.type}:{record.path} is named twice in the device spec")
            chosen.append(record)
    return chosen


def build_tpu_device(model: Model, runtime: Any, opened: Any, name: str) -> BuiltDevice:
    """One interpreter bound to one opened Edge TPU: the custom op is registered with the
    safe registration copy, SetNumThreads(1) and the Edge TPU context are set before
    AllocateTensors."""
    if not model.is_edgetpu:
        log.warning(
            "%s has no edgetpu-custom-op node: on %s it runs entirely on the host CPU; "
            "compile it with edgetpu_compiler to use the TPU", model.name, name,
        )

    def bind(handle: int) -> List[Any]:
        binding = core.bind_edgetpu_interpreter(handle, opened)
        return [binding, opened]

    built = build_device(
        model, name, "sim" if opened.simulated else "tpu",
        custom_op_registerers=[runtime.custom_op_registerer()], bind=bind, probe=opened.probe(),
    )
    built.tpu = opened
    return built


def list_devices(runtime: Any) -> Dict[str, Any]:
    opened = set(runtime.opened_paths())
    return {
        "library": runtime.path,
        "version": runtime.version(),
        "simulated": bool(runtime.simulated),
        "devices": [
            {"type": r.type, "path": r.path, "state": "open" if r.path in opened else "available",
             "simulated": r.simulated}
            for r in records(runtime)
        ],
    }
