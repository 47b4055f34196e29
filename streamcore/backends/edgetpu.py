"""Edge TPUs through libedgetpu's C++ API: the runtime, device specs resolved against
``EnumerateEdgeTpu()``, options, and interpreters bound to an opened device.

The real runtime is ``$STREAMCORE_LIBEDGETPU`` or ``libedgetpu.so.1``. ``sim:N`` loads the
project's simulated libedgetpu through the same code; it is labelled as a simulator wherever
it appears and never stands in for real hardware.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .._native import core
from ..engine.model import Model
from ..errors import BackendUnavailableError, DeviceError, DeviceNotFoundError, EdgeTpuUnavailableError
from .sim import sim_library_path
from .base import BuiltDevice, Placement
from .specs import EDGETPU_FORMS, DeviceRequest, default_cpu_count, parse_edgetpu
from .tflite import build_device, format_refusal, load_tflite

__all__ = ["EdgeTpuBackend", "TpuOptions", "TpuRecord", "load_runtime", "sim_runtime", "resolve", "build_tpu_device", "list_devices"]

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


# TF versions whose TfLiteRegistration layout (88 bytes, init..inplace_operator) the
# registration copy in csrc/backends/edgetpu was checked against.
REGISTRATION_LAYOUT_TESTED = ("2.14",)
LAYOUT_OVERRIDE_ENV = "STREAMCORE_TFLITE_LAYOUT_OK"


def _need_tflite() -> None:
    # libedgetpu plugs into TFLite's C++ interpreter: no tflite_runtime, no Edge TPU.
    try:
        version, _ = load_tflite()
    except BackendUnavailableError as e:
        raise EdgeTpuUnavailableError(
            f"Edge TPUs run through tflite_runtime's C++ API, which is not installed ({e}). "
            "On Python 3.12+, install a tflite_runtime wheel built for your Python together with a "
            "libedgetpu built for the same TensorFlow version (Frigate ships such pairs), "
            "or use Python 3.11 with tflite-runtime==2.14.0"
        ) from None
    if not version.startswith(REGISTRATION_LAYOUT_TESTED) and os.environ.get(LAYOUT_OVERRIDE_ENV) != version:
        raise EdgeTpuUnavailableError(
            f"tflite_runtime {version} is not a TFLite version whose custom-op registration layout "
            f"streamcore has checked for libedgetpu (checked: {', '.join(REGISTRATION_LAYOUT_TESTED)}). "
            "Use tflite-runtime==2.14.0 with a libedgetpu built for TF 2.14, or, if your libedgetpu was "
            f"built for TF {version} and you accept the risk, set {LAYOUT_OVERRIDE_ENV}={version}"
        )


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
    _need_tflite()
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
    built.backend = "edgetpu"
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


class EdgeTpuBackend:
    """Coral Edge TPUs (USB and PCIe) and the simulator, through libedgetpu and tflite_runtime."""

    name = "edgetpu"
    spec_forms = EDGETPU_FORMS

    def parse(self, spec: str) -> Optional[DeviceRequest]:
        return parse_edgetpu(spec)

    def unavailable(self) -> Optional[str]:
        try:
            _need_tflite()
            load_runtime()
        except EdgeTpuUnavailableError as e:
            return str(e)
        return None

    def environment(self) -> Dict[str, Any]:
        try:
            runtime = load_runtime()
        except EdgeTpuUnavailableError as e:
            return {"backend": self.name, "available": False, "library": core.default_libedgetpu_path(),
                    "version": None, "reason": str(e)}
        return {"backend": self.name, "available": True, "library": runtime.path, "version": runtime.version(),
                "reason": None}

    def enumerate(self) -> List[Dict[str, Any]]:
        try:
            runtime = load_runtime()
        except EdgeTpuUnavailableError:
            return []
        listed = list_devices(runtime)
        return [{"name": f"{d['type']}:{d['path']}", **d} for d in listed["devices"]]

    def place(self, requests: Sequence[DeviceRequest], pool: Any) -> List[Placement]:
        pool.options.to_libedgetpu()  # invalid option values fail before anything opens
        placements: List[Placement] = []
        sim = [r for r in requests if r.kind == "sim"]
        tpu = [r for r in requests if r.kind in ("tpu", "auto")]
        if sim:
            runtime = sim_runtime(max(r.count for r in sim), sim[0].latency_ms)
            placements += [Placement(tpu_name(runtime, rec), self.name, runtime, rec) for rec in resolve(runtime, sim)]
        if tpu:
            placements += self._place_real(tpu, pool)
        return placements

    def _place_real(self, requests: Sequence[DeviceRequest], pool: Any) -> List[Placement]:
        only_auto = all(r.kind == "auto" for r in requests)
        try:
            runtime = load_runtime()
            found = resolve(runtime, [r for r in requests if r.kind != "auto"])
            if any(r.kind == "auto" for r in requests):
                found += [r for r in resolve_all(runtime) if r not in found]
        except EdgeTpuUnavailableError:
            if not (only_auto or pool.fallback_to_cpu):
                raise
            log.info("no libedgetpu: running on the CPU")
            fallback: List[Placement] = pool.cpu_fallback(default_cpu_count())
            return fallback
        if not found:
            if only_auto or pool.fallback_to_cpu:
                log.info("no Edge TPU found: running on the CPU")
                cpus: List[Placement] = pool.cpu_fallback(default_cpu_count())
                return cpus
            raise DeviceError("no Edge TPU found; plug one in or use devices='cpu'")
        return [Placement(tpu_name(runtime, rec), self.name, runtime, rec) for rec in found]

    def refuse(self, model: Model) -> Optional[str]:
        # A CPU .tflite model runs on the TPU's host side (build_tpu_device warns).
        return format_refusal(model, "The Edge TPU")

    def build(self, model: Model, placement: Placement, pool: Any) -> BuiltDevice:
        opened = pool.open_tpu(placement.runtime, placement.record)
        return build_tpu_device(model, placement.runtime, opened, placement.name)

    def reopenable(self, placement: Placement) -> bool:
        return True

    def release(self, placement: Placement, pool: Any) -> None:
        pool.forget_tpu(placement.runtime, placement.record)

    def present(self, placement: Placement) -> bool:
        return bool(placement.record.path in {p for _, p in placement.runtime.enumerate()})


def resolve_all(runtime: Any) -> List[TpuRecord]:
    return resolve(runtime, [DeviceRequest("auto")]) if runtime.enumerate() else []


def tpu_name(runtime: Any, record: TpuRecord) -> str:
    """usb0, pci1, sim2: the device's position among those of its type, as enumerated, which
    is also the spec that pins a model to it."""
    same_type = [r for r in records(runtime) if r.type == record.type]
    return f"{record.short_name}{same_type.index(record)}"


BACKEND = EdgeTpuBackend()
