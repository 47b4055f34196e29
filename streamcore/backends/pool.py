"""Opens the devices an engine asks for, once each, through their backends: Edge TPU
contexts are shared by the interpreters of every model pinned to them, and released when the
engine closes."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Sequence, Tuple

from ..engine.model import Model
from ..engine.model_check import unresolved_custom_ops
from ..errors import DeviceError, ModelError
from . import registry
from .base import BuiltDevice, Placement
from .edgetpu import TpuOptions, TpuRecord, sim_runtime
from .specs import DeviceRequest

__all__ = ["DevicePool", "Placement"]

log = logging.getLogger("streamcore.devices")


class DevicePool:
    def __init__(self, options: TpuOptions, fallback_to_cpu: bool) -> None:
        self.options = options
        self.fallback_to_cpu = fallback_to_cpu
        self._opened: Dict[Tuple[str, str], Any] = {}  # (library, path) -> EdgeTpuDevice
        # What a backend shares between the devices it builds for one engine (a compiled model).
        self.shared: Dict[Any, Any] = {}

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
        """The devices that `requests` stand for, resolved against what is present, each
        backend asked for its own, in the order the backends first appear."""
        by_backend: Dict[str, List[DeviceRequest]] = {}
        for request in requests:
            by_backend.setdefault(request.backend or registry.preferred_cpu(), []).append(request)
        placements: List[Placement] = []
        for name, group in by_backend.items():
            placements += registry.get(name).place(group, self)
        return _unique_names(placements)

    def cpu_fallback(self, count: int) -> List[Placement]:
        """`count` CPU devices on the preferred CPU backend (fallback_to_cpu, auto)."""
        name = registry.preferred_cpu()
        return registry.get(name).place([DeviceRequest("cpu", count, backend=name)], self)

    def check(self, model: Model, placements: Sequence[Placement]) -> None:
        """Refuses, before anything is built, a model that one of the backends cannot run."""
        unresolved = unresolved_custom_ops(model.custom_ops, model.name)
        if unresolved:  # no backend could: runtimes would fail later, naming a delegate instead
            raise ModelError(unresolved)
        for backend in {p.backend for p in placements}:
            why = registry.get(backend).refuse(model)
            if why:
                able = [b.name for b in registry.backends() if b.refuse(model) is None and b.unavailable() is None]
                raise ModelError(f"{why} (backends that can run it here: {', '.join(able) or 'none'})")

    def build(self, model: Model, placement: Placement) -> BuiltDevice:
        return registry.get(placement.backend).build(model, placement, self)

    # -- what the health monitor needs to reopen a device ---------------------------------

    def reopenable(self, placement: Placement) -> bool:
        return registry.get(placement.backend).reopenable(placement)

    def release(self, placement: Placement) -> None:
        registry.get(placement.backend).release(placement, self)

    def present(self, placement: Placement) -> bool:
        return registry.get(placement.backend).present(placement)

    # -- Edge TPU contexts, shared by every model of the engine ---------------------------

    def open_tpu(self, runtime: Any, record: TpuRecord) -> Any:
        key = (runtime.path, record.path)
        opened = self._opened.get(key)
        if opened is None:
            opened = runtime.open(record.type, record.path, self.options.to_libedgetpu())
            self._opened[key] = opened
            label = " [SIMULATED: streamcore's libedgetpu simulator, no TPU hardware]" if record.simulated else ""
            log.info("opened Edge TPU %s:%s with %s%s", record.type, record.path, runtime.version(), label)
        return opened

    def forget_tpu(self, runtime: Any, record: TpuRecord) -> None:
        """Drops the pool's handle so the device closes once its interpreters are gone."""
        self._opened.pop((runtime.path, record.path), None)

    def close(self) -> None:
        self._opened.clear()
        self.shared.clear()


def _unique_names(placements: List[Placement]) -> List[Placement]:
    """Two backends' CPU devices both called cpu0 become cpu0 and cpu1."""
    seen: Dict[str, int] = {}
    out = []
    for p in placements:
        name = p.name
        if name in seen:
            stem = name.rstrip("0123456789")
            n = seen.get(stem, 0)
            while f"{stem}{n}" in seen:
                n += 1
            name = f"{stem}{n}"
            p = p._replace(name=name)
        seen[name] = 1
        out.append(p)
    return out
