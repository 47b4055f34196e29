"""One model of an engine on its devices: submits frames to the native core and turns its
completions back into results on the awaiting futures."""

from __future__ import annotations

import asyncio
import itertools
import logging
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from .. import errors
from .._native import core
from ..backends.base import BuiltDevice, Placement, output_layout
from ..backends.pool import DevicePool
from ..backends.registry import parse_devices
from ..backends.specs import DeviceSpec
from ..errors import EngineClosedError
from ..types import Geometry, Result, TensorInfo, Timings
from .frames import to_frame_view
from .health import HealthMonitor
from .model import Model, ModelSource

__all__ = ["ModelRunner", "RunnerSettings", "Adapter", "Roi"]

log = logging.getLogger("streamcore.engine")

Roi = Tuple[int, int, int, int]  # x, y, width, height in frame pixels
Adapter = Callable[[Result], Any]

_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1
_FRAME_OPTIONS = ("format", "matrix", "range")

_stuck_cores: List[Any] = []  # cores whose workers outlived close(): never freed under them


@dataclass(frozen=True)
class RunnerSettings:
    """What every model of one engine shares."""

    name: str
    queue_depth: int
    worker_nice: int
    failover: Optional[bool]
    pool: DevicePool


class ModelRunner:
    """One model on its devices: the native core, the pending futures, and the health
    monitor that keeps failed devices out of rotation and brings them back."""

    def __init__(self, settings: RunnerSettings, key: str, model: ModelSource, devices: DeviceSpec,
                 adapter: Optional[Adapter], params: Dict[str, Any]) -> None:
        self.settings = settings
        self.engine_name = settings.name
        self.key = key
        self.model = Model.load(model)
        self.requests = parse_devices(devices)
        self.adapter = adapter
        self._param_kwargs = params
        self._params = core.PreprocessParams(**params)  # validates fit and filter
        self.native: Any = None
        self.placements: List[Placement] = []
        self.devices: List[Optional[BuiltDevice]] = []  # None while a device is being reopened
        self._kinds: List[Tuple[str, bool, str]] = []  # (kind, simulated, backend) per device
        self._details: Optional[Tuple[List[TensorInfo], List[TensorInfo]]] = None  # inputs, outputs
        self._pending: Dict[int, "asyncio.Future[Result]"] = {}
        self.inflight = 0  # submitted to the native core and not yet drained
        self._ids = itertools.count()
        self._slots: Optional[asyncio.Semaphore] = None
        self._monitor: Optional["asyncio.Task[None]"] = None
        self._health: Optional[HealthMonitor] = None
        self.reopens: Dict[int, int] = {}  # per device: times it came back

    # -- lifecycle ---------------------------------------------------------------------

    def install(self, loop: asyncio.AbstractEventLoop, built: List[Tuple[Placement, BuiltDevice]]) -> None:
        first = built[0][1]
        for _, device in built[1:]:
            if [(o.shape, o.dtype) for o in device.outputs] != [(o.shape, o.dtype) for o in first.outputs]:
                raise errors.ModelError(
                    f"{self.model.name}: {device.name} ({device.backend}) gives outputs "
                    f"{[(o.shape, o.dtype.name) for o in device.outputs]} but {first.name} ({first.backend}) "
                    f"gives {[(o.shape, o.dtype.name) for o in first.outputs]}; one engine's devices must agree"
                )
        has_tpu = any(d.kind != "cpu" for _, d in built)
        failover = has_tpu if self.settings.failover is None else self.settings.failover
        layout = output_layout(first.outputs)
        native = core.EngineCore(
            devices=[d.native for _, d in built],
            depth=self.settings.queue_depth,
            loop=loop,
            on_completions=_weak_method(self._on_completions),
            failover=failover,
            name=f"{self.engine_name}.{self.key}",
            outputs=[(dtype, shape, offset) for dtype, shape, offset, _ in layout],
            worker_nice=self.settings.worker_nice,
        )
        native.start()
        self.placements = [p for p, _ in built]
        self.devices = [d for _, d in built]
        self._kinds = [(d.kind, d.simulated, d.backend) for _, d in built]
        self._details = (first.inputs, first.outputs)
        self._slots = asyncio.Semaphore(native.capacity)
        self.native = native
        if failover:
            self._health = HealthMonitor(self, self.settings.pool)
            self._monitor = loop.create_task(self._health.watch(), name=f"streamcore-health-{self.key}")

    def discard(self) -> None:
        """Undoes a partial start."""
        if self.native is not None:
            self.native.close(1.0)
        self.native = None
        self.devices = []

    async def close(self, timeout: float) -> None:
        await self._stop_monitor(timeout)
        native = self.native
        if native is None:
            return
        stopped = await asyncio.get_running_loop().run_in_executor(None, native.close, timeout)
        self._finish_close(native, stopped)

    def close_now(self, timeout: float) -> None:
        if self._health is not None:
            self._health.stop_soon()
        if self._monitor is not None:
            self._monitor.cancel()
        if self.native is not None:
            self._finish_close(self.native, self.native.close(timeout))

    async def _stop_monitor(self, timeout: float) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            try:
                await self._monitor
            except asyncio.CancelledError:
                pass
            self._monitor = None
        if self._health is not None:
            await self._health.stop(timeout)  # a reopen in flight must not install after close
            self._health = None

    def _finish_close(self, native: Any, stopped: bool) -> None:
        self._on_completions()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(EngineClosedError("the engine was closed"))
        self._pending.clear()
        if not stopped:
            log.warning("%s: a device was still busy after close(); leaving it to finish", self.engine_name)
            _stuck_cores.append(native)
        self.native = None  # releases the interpreters and, with them, the devices
        self.devices = []

    # -- inference ---------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return int(self.native.capacity) if self.native is not None else 0

    @property
    def device_names(self) -> List[str]:
        return [placement.name for placement in self.placements]

    def details(self) -> Tuple[List[TensorInfo], List[TensorInfo]]:
        if self._details is None:
            raise EngineClosedError("the engine is not started; use `async with Engine(...)`")
        return self._details

    async def infer(self, frame: Any, roi: Optional[Roi], frame_options: Dict[str, Any]) -> Result:
        if self.native is None or self._slots is None:
            raise EngineClosedError("the engine is closed; create a new Engine")
        unknown = sorted(set(frame_options) - set(_FRAME_OPTIONS)) if frame_options else None
        if unknown:
            raise errors.InputError(
                f"unknown frame option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                f"infer takes {', '.join(_FRAME_OPTIONS)} (as strings) besides roi and model"
            )
        view = to_frame_view(frame, **frame_options)
        params = self._params if roi is None else self._roi_params(roi)
        await self._slots.acquire()
        if self.native is None:  # closed while waiting for room
            self._slots.release()
            raise EngineClosedError("the engine was closed")
        future: "asyncio.Future[Result]" = asyncio.get_running_loop().create_future()
        job_id = next(self._ids)
        try:
            self.native.submit(job_id, view, params)
        except BaseException:
            self._slots.release()
            raise
        self.inflight += 1
        self._pending[job_id] = future
        result = await future
        if self.adapter is not None:
            result.value = self.adapter(result)
        return result

    def _roi_params(self, roi: Roi) -> Any:
        try:
            x, y, w, h = (int(v) for v in roi)
        except (TypeError, ValueError, OverflowError):
            raise errors.RoiError(f"roi={roi!r}; pass (x, y, width, height) in frame pixels") from None
        if not all(_INT_MIN <= v <= _INT_MAX for v in (x, y, w, h)):
            raise errors.RoiError(
                f"roi={roi!r} reaches outside any frame (values must fit 32 bits); "
                "pass (x, y, width, height) in frame pixels"
            )
        return core.PreprocessParams(roi=(x, y, w, h), **self._param_kwargs)

    def _on_completions(self) -> None:
        native = self.native
        if native is None:
            return
        assert self._details is not None
        details = self._details[1]
        names = self.device_names
        for job_id, outputs, geometry, timings, device, _attempts, err_class, err_msg in native.drain():
            self.inflight -= 1
            if self._slots is not None:
                self._slots.release()
            future = self._pending.pop(job_id, None)
            if future is None or future.done():
                continue  # the caller was cancelled; its outputs are simply dropped
            if err_class is not None:
                future.set_exception(errors.from_native(err_class, err_msg))
                continue
            future.set_result(
                Result(
                    outputs=outputs,
                    output_details=details,
                    geometry=Geometry(*geometry),
                    timings=Timings(*timings),
                    device=names[device],
                )
            )

    # -- device slots, as the health monitor sees them (health.DeviceSlots) --------------

    @property
    def running(self) -> bool:
        return self.native is not None

    def slot_stats(self) -> Optional[List[Dict[str, Any]]]:
        native = self.native
        return None if native is None else native.stats()

    def slot(self, index: int) -> Tuple[Placement, Optional[BuiltDevice]]:
        return self.placements[index], self.devices[index]

    def set_healthy(self, index: int, healthy: bool) -> None:
        native = self.native
        if native is not None:
            native.set_healthy(index, healthy)

    def retire(self, index: int) -> bool:
        native = self.native
        if native is None or native.retire_device(index) is None:
            return False
        self.devices[index] = None
        return True

    def install_device(self, index: int, device: BuiltDevice) -> None:
        native = self.native
        if native is None:
            return
        native.install_device(index, device.native)
        self.devices[index] = device

    def count_reopen(self, index: int) -> None:
        self.reopens[index] = self.reopens.get(index, 0) + 1

    # -- stats -------------------------------------------------------------------------

    def stats(self) -> List[Dict[str, Any]]:
        if self.native is None:
            return []
        out = []
        for i, s in enumerate(self.native.stats()):
            kind, simulated, backend = self._kinds[i]
            s.update(model=self.key, kind=kind, backend=backend, simulated=simulated, reopens=self.reopens.get(i, 0))
            out.append(s)
        return out


def _weak_method(method: Callable[[], None]) -> Callable[[], None]:
    # The native core holds this callback; a strong reference would keep the engine alive.
    ref = weakref.WeakMethod(method)

    def call() -> None:
        bound = ref()
        if bound is not None:
            bound()

    return call
