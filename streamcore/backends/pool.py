"""Opens the devices an engine asks for, once each: Edge TPU contexts are shared by the
interpreters of every model pinned to them, and released when the engine closes."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..engine.model import Model
from ..errors import DeviceError, EdgeTpuUnavailableError
from .edgetpu import TpuOptions, TpuRecord, build_tpu_device, load_runtime, records, resolve, sim_runtime
from .specs import DeviceRequest, default_cpu_count
from .tflite import BuiltDevice, build_cpu_device

__all__ = ["DevicePool", "Placement"]

log = logging.getLogger("streamcore.devices")

# Where one interpreter goes: (name, runtime, record); runtime and record are None for the CPU.
Placement = Tuple[str, Any, Optional[TpuRecord]]


class DevicePool:
    def __init__(self, options: TpuOptions, fallback_to_cpu: bool) -> None:
        self.options = options
        self.fallback_to_cpu = fallback_to_cpu
        self._opened: Dict[Tuple[str, str], Any] = {}  # (library, path) -> EdgeTpuDevice

    def configure_simulator(self, requests: Sequence[DeviceRequest]) -> None:
        """Sizes the simulator once for every model of an engine (reconfiguring it later
        would need the devices closed)."""
        sim = [r for r in requests if r.kind == "sim"]
        if sim:
            latencies = {r.latency_ms for r in sim}
            if len(latencies) > 1:
                raise DeviceError("simulated devices of one engine must share one latency")
            sim_runtime(max(r.count for r in sim), sim[0].latency_ms)

    def place(self, requests: Sequence[DeviceRequest]) -> List[Placement]:
        """The devices that `requests` stand for, resolved against what is present."""
        self.options.to_libedgetpu()  # invalid option values fail before anything opens
        where: List[Tuple[Any, Optional[TpuRecord]]] = []
        cpu = [r for r in requests if r.kind == "cpu"]
        sim = [r for r in requests if r.kind == "sim"]
        tpu = [r for r in requests if r.kind in ("tpu", "auto")]
        for request in cpu:
            where += [(None, None)] * request.count
        if sim:
            runtime = sim_runtime(max(r.count for r in sim), sim[0].latency_ms)
            where += [(runtime, record) for record in resolve(runtime, sim)]
        if tpu:
            where += self._place_real(tpu)
        placements: List[Placement] = []
        cpus = 0
        for runtime, record in where:
            if record is None:
                placements.append((f"cpu{cpus}", None, None))
                cpus += 1
            else:
                placements.append((tpu_name(runtime, record), runtime, record))
        return placements

    def _place_real(self, requests: Sequence[DeviceRequest]) -> List[Tuple[Any, Optional[TpuRecord]]]:
        only_auto = all(r.kind == "auto" for r in requests)
        try:
            runtime = load_runtime()
            found = resolve(runtime, [r for r in requests if r.kind != "auto"])
            if any(r.kind == "auto" for r in requests):
                found += [r for r in resolve_all(runtime) if r not in found]
        except EdgeTpuUnavailableError:
            if not (only_auto or self.fallback_to_cpu):
                raise
            log.info("no libedgetpu: running on the CPU")
            return [(None, None)] * default_cpu_count()
        if not found:
            if only_auto or self.fallback_to_cpu:
                log.info("no Edge TPU found: running on the CPU")
                return [(None, None)] * default_cpu_count()
            raise DeviceError("no Edge TPU found; plug one in or use devices='cpu'")
        return [(runtime, record) for record in found]

    def build(self, model: Model, placement: Placement) -> BuiltDevice:
        name, runtime, record = placement
        if record is None:
            return build_cpu_device(model, name)
        opened = self.open(runtime, record)
        return build_tpu_device(model, runtime, opened, name)

    def open(self, runtime: Any, record: TpuRecord) -> Any:
        key = (runtime.path, record.path)
        opened = self._opened.get(key)
        if opened is None:
            opened = runtime.open(record.type, record.path, self.options.to_libedgetpu())
            self._opened[key] = opened
            label = " [SIMULATED: streamcore's libedgetpu simulator, no TPU hardware]" if record.simulated else ""
            log.info("opened Edge TPU %s:%s with %s%s", record.type, record.path, runtime.version(), label)
        return opened

    def forget(self, runtime: Any, record: TpuRecord) -> None:
        """Drops the pool's handle so the device closes once its interpreters are gone."""
        self._opened.pop((runtime.path, record.path), None)

    def close(self) -> None:
        self._opened.clear()


def resolve_all(runtime: Any) -> List[TpuRecord]:
    return resolve(runtime, [DeviceRequest("auto")]) if runtime.enumerate() else []



def tpu_name(runtime: Any, record: TpuRecord) -> str:
    """usb0, pci1, sim2: the device's position among those of its type, as enumerated, which
    is also the spec that pins a model to it."""
    same_type = [r for r in records(runtime) if r.type == record.type]
    return f"{record.short_name}{same_type.index(record)}"
