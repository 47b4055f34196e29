"""The asyncio face of the native scheduler: submit frames, await results."""

from __future__ import annotations

import asyncio
import atexit
import itertools
import logging
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import errors
from ._native import core
from .device_pool import DevicePool, Placement
from .devices import DeviceSpec, parse_devices
from .edgetpu import TpuOptions
from .errors import EngineClosedError, InputError, StreamcoreError
from .frames import to_frame_view
from .geometry import Geometry
from .interpreters import BuiltDevice, output_layout
from .model import Model, ModelSource
from .results import Result, Timings
from .tensors import TensorInfo

__all__ = ["Engine", "Deploy", "Roi"]

log = logging.getLogger("streamcore.engine")

Roi = Tuple[int, int, int, int]  # x, y, width, height in frame pixels
Adapter = Callable[[Result], Any]

_open_engines: "weakref.WeakSet[Engine]" = weakref.WeakSet()
_stuck_cores: List[Any] = []  # cores whose workers outlived close(): never freed under them

HEALTH_INTERVAL_S = 0.05
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0


@dataclass
class Deploy:
    """One model of a multi-model engine, pinned to its own devices."""

    model: ModelSource
    devices: DeviceSpec = "auto"
    adapter: Optional[Adapter] = None
    preprocess: Dict[str, Any] = field(default_factory=dict)  # fit, filter, mean, std, ...


class Engine:
    """Runs a model on one or more devices.

    ``async with Engine("model.tflite", devices="cpu:2") as engine:``
    ``result = await engine.infer(frame)``

    Several models, each pinned to its own devices (one model per TPU, as Coral advises)::

        Engine({"detector": Deploy(ssd, "usb:0", Detect()), "classifier": (mobilenet, "usb:1")})
        await engine.infer(frame, model="detector")

    ``frame`` is a PyAV VideoFrame or a numpy image (HxWx3 RGB, HxW gray, ...). Frames are
    preprocessed (colour conversion, resize, quantization) and run on the next device with
    room, round-robin. At most ``queue_depth`` frames wait per device; further ``infer``
    calls wait for room (backpressure). On Edge TPUs a device that fails is taken out of
    rotation, its frames are retried on the others, and it is reopened in the background.
    Worker threads run ``worker_nice`` steps below the caller's priority so the event loop
    stays responsive while they saturate the CPU (0 keeps them equal); the default 10 also
    keeps them below streamcore's decoder threads (5), which hold the GIL at times.
    """

    def __init__(
        self,
        model: Union[ModelSource, Mapping[str, Union[Deploy, Tuple[Any, ...]]]],
        devices: DeviceSpec = "auto",
        *,
        adapter: Optional[Adapter] = None,
        fit: str = "stretch",
        filter: str = "bilinear",
        mean: float = 128.0,
        std: float = 128.0,
        pad_value: int = 0,
        bgr: bool = False,
        queue_depth: int = 2,
        worker_nice: int = 10,
        performance: Optional[str] = None,
        usb_max_bulk_in_queue_length: Optional[int] = None,
        fallback_to_cpu: bool = False,
        failover: Optional[bool] = None,
        name: str = "engine",
    ) -> None:
        if queue_depth < 1:
            raise InputError(f"queue_depth={queue_depth}; it must be at least 1")
        self.name = name
        self._queue_depth = queue_depth
        self._worker_nice = worker_nice
        self._failover = failover
        self._pool = DevicePool(
            TpuOptions(performance, usb_max_bulk_in_queue_length), fallback_to_cpu
        )
        self._pool.options.to_libedgetpu()  # invalid option values fail here
        defaults = dict(fit=fit, filter=filter, mean=mean, std=std, pad_value=pad_value, bgr=bgr)
        if isinstance(model, Mapping):
            if not model:
                raise InputError("no models given; pass a model or a mapping name -> Deploy")
            deploys = {key: _as_deploy(key, value) for key, value in model.items()}
        else:
            deploys = {"default": Deploy(model, devices, adapter)}
        self._runners: Dict[str, _Runner] = {
            key: _Runner(self, key, d, {**defaults, **d.preprocess}) for key, d in deploys.items()
        }
        self._starting: Optional["asyncio.Future[None]"] = None
        self._started = False
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> "Engine":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def started(self) -> bool:
        return self._started

    @property
    def closed(self) -> bool:
        return self._closed

    async def start(self) -> None:
        """Opens the devices and builds the interpreters (off the event loop), then starts
        the workers. Idempotent; concurrent calls wait for the same start."""
        if self._closed:
            raise EngineClosedError("the engine is closed; create a new Engine")
        if self._started:
            return
        if self._starting is not None:
            await asyncio.shield(self._starting)
            return
        loop = asyncio.get_running_loop()
        self._starting = loop.create_future()
        try:
            built = await loop.run_in_executor(None, self._build_all)
            for runner in self._runners.values():
                runner.install(loop, built[runner.key])
            self._started = True
            _open_engines.add(self)
            self._starting.set_result(None)
        except BaseException as e:
            for runner in self._runners.values():
                runner.discard()
            self._pool.close()
            self._starting.set_exception(e)
            self._starting.exception()  # retrieved: concurrent starters get it through shield
            self._starting = None
            raise

    def _build_all(self) -> Dict[str, List[Tuple[Placement, BuiltDevice]]]:
        built: Dict[str, List[Tuple[Placement, BuiltDevice]]] = {}
        self._pool.configure_simulator([r for runner in self._runners.values() for r in runner.requests])
        for runner in self._runners.values():
            placements = self._pool.place(runner.requests)
            built[runner.key] = [(p, self._pool.build(runner.model, p)) for p in placements]
        return built

    async def close(self, timeout: float = 5.0) -> None:
        """Stops the workers (waiting at most `timeout` for a running invoke) and fails frames
        that had not started with EngineClosedError. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._starting is not None and not self._started:
            try:
                await asyncio.shield(self._starting)
            except BaseException:
                return
        for runner in self._runners.values():
            await runner.close(timeout)
        self._pool.close()
        _open_engines.discard(self)

    def close_now(self, timeout: float = 2.0) -> None:
        """Synchronous close for atexit and non-async callers (blocks up to `timeout`)."""
        if self._closed:
            return
        self._closed = True
        for runner in self._runners.values():
            runner.close_now(timeout)
        self._pool.close()
        _open_engines.discard(self)

    # -- inference ---------------------------------------------------------------------

    def _runner(self, model: Optional[str]) -> "_Runner":
        if model is None:
            if len(self._runners) == 1:
                return next(iter(self._runners.values()))
            raise InputError(f"this engine runs several models; pass model= one of {sorted(self._runners)}")
        try:
            return self._runners[model]
        except KeyError:
            raise InputError(f"no model named {model!r}; this engine has {sorted(self._runners)}") from None

    async def infer(
        self, frame: Any, roi: Optional[Roi] = None, *, model: Optional[str] = None, **frame_options: Any
    ) -> Result:
        """Runs one frame. ``roi=(x, y, w, h)`` restricts it to a region of the frame;
        ``model`` picks the model of a multi-model engine; ``frame_options`` (format,
        matrix, range) describe numpy frames."""
        if self._closed:
            raise EngineClosedError("the engine is closed; create a new Engine")
        if not self._started:
            raise EngineClosedError("the engine is not started; use `async with Engine(...)`")
        return await self._runner(model).infer(frame, roi, frame_options)

    @property
    def models(self) -> List[str]:
        return list(self._runners)

    def model(self, name: Optional[str] = None) -> Model:
        return self._runner(name).model

    def input_details(self, model: Optional[str] = None) -> List[TensorInfo]:
        return self._runner(model).details()[0]

    def output_details(self, model: Optional[str] = None) -> List[TensorInfo]:
        return self._runner(model).details()[1]

    @property
    def capacity(self) -> int:
        """Frames that can be in flight at once (queue_depth per device), all models."""
        return sum(r.capacity for r in self._runners.values())

    @property
    def inflight(self) -> int:
        """Frames submitted and not yet completed, all models."""
        return sum(r.inflight for r in self._runners.values())

    @property
    def devices(self) -> List[str]:
        names: List[str] = []
        for runner in self._runners.values():
            names += [n for n in runner.device_names if n not in names]
        return names

    def stats(self) -> List[Dict[str, Any]]:
        """Per device and model: frames, errors, busy seconds, in flight, healthy, retried,
        reopens, and whether the device is simulated."""
        return [s for r in self._runners.values() for s in r.stats()]

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self._started else "not started")
        models = ", ".join(f"{k}={r.model.name}" for k, r in self._runners.items())
        return f"Engine({models}, devices={self.devices}, {state})"


def _as_deploy(key: str, value: Union[Deploy, Tuple[Any, ...]]) -> Deploy:
    if isinstance(value, Deploy):
        return value
    if isinstance(value, tuple) and 1 <= len(value) <= 3:
        return Deploy(*value)
    raise InputError(f"model {key!r}: pass Deploy(model, devices, adapter) or (model, devices[, adapter])")


class _Runner:
    """One model on its devices: the native core, pending futures and the health monitor."""

    def __init__(self, engine: Engine, key: str, deploy: Deploy, params: Dict[str, Any]) -> None:
        self.engine_name = engine.name
        self.key = key
        self.model = Model.load(deploy.model)
        self.requests = parse_devices(deploy.devices)
        self.adapter = deploy.adapter
        self._engine = engine
        self._param_kwargs = params
        self._params = core.PreprocessParams(**params)  # validates fit and filter
        self._core: Any = None
        self._placements: List[Placement] = []
        self._devices: List[Optional[BuiltDevice]] = []  # None while a device is being reopened
        self._kinds: List[Tuple[str, bool]] = []  # (kind, simulated) per device
        self._details: Optional[Tuple[List[TensorInfo], List[TensorInfo]]] = None  # inputs, outputs
        self._pending: Dict[int, "asyncio.Future[Result]"] = {}
        self.inflight = 0  # submitted to the native core and not yet drained
        self._ids = itertools.count()
        self._slots: Optional[asyncio.Semaphore] = None
        self._monitor: Optional["asyncio.Task[None]"] = None
        self._reopens: Dict[int, int] = {}

    # -- lifecycle ---------------------------------------------------------------------

    def install(self, loop: asyncio.AbstractEventLoop, built: List[Tuple[Placement, BuiltDevice]]) -> None:
        first = built[0][1]
        for _, device in built[1:]:
            if [o.shape for o in device.outputs] != [o.shape for o in first.outputs]:
                raise errors.ModelError(f"{self.model.name}: devices disagree on output shapes")
        has_tpu = any(d.kind != "cpu" for _, d in built)
        failover = has_tpu if self._engine._failover is None else self._engine._failover
        layout = output_layout(first.outputs)
        native = core.EngineCore(
            devices=[d.native for _, d in built],
            depth=self._engine._queue_depth,
            loop=loop,
            on_completions=_weak_method(self._on_completions),
            failover=failover,
            name=f"{self.engine_name}.{self.key}",
            outputs=[(dtype, shape, offset) for dtype, shape, offset, _ in layout],
            worker_nice=self._engine._worker_nice,
        )
        native.start()
        self._placements = [p for p, _ in built]
        self._devices = [d for _, d in built]
        self._kinds = [(d.kind, d.simulated) for _, d in built]
        self._details = (first.inputs, first.outputs)
        self._slots = asyncio.Semaphore(native.capacity)
        self._core = native
        if failover:
            self._monitor = loop.create_task(self._watch(), name=f"streamcore-health-{self.key}")

    def discard(self) -> None:
        """Undoes a partial start."""
        if self._core is not None:
            self._core.close(1.0)
        self._core = None
        self._devices = []

    async def close(self, timeout: float) -> None:
        await self._stop_monitor()
        native = self._core
        if native is None:
            return
        stopped = await asyncio.get_running_loop().run_in_executor(None, native.close, timeout)
        self._finish_close(native, stopped)

    def close_now(self, timeout: float) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
        if self._core is not None:
            self._finish_close(self._core, self._core.close(timeout))

    async def _stop_monitor(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            try:
                await self._monitor
            except asyncio.CancelledError:
                pass
            self._monitor = None

    def _finish_close(self, native: Any, stopped: bool) -> None:
        self._on_completions()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(EngineClosedError("the engine was closed"))
        self._pending.clear()
        if not stopped:
            log.warning("%s: a device was still busy after close(); leaving it to finish", self.engine_name)
            _stuck_cores.append(native)
        self._core = None  # releases the interpreters and, with them, the devices
        self._devices = []

    # -- inference ---------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return int(self._core.capacity) if self._core is not None else 0

    @property
    def device_names(self) -> List[str]:
        return [placement[0] for placement in self._placements]

    def details(self) -> Tuple[List[TensorInfo], List[TensorInfo]]:
        if self._details is None:
            raise EngineClosedError("the engine is not started; use `async with Engine(...)`")
        return self._details

    async def infer(self, frame: Any, roi: Optional[Roi], frame_options: Dict[str, Any]) -> Result:
        if self._core is None or self._slots is None:
            raise EngineClosedError("the engine is closed; create a new Engine")
        view = to_frame_view(frame, **frame_options)
        params = self._params if roi is None else self._roi_params(roi)
        await self._slots.acquire()
        if self._core is None:  # closed while waiting for room
            self._slots.release()
            raise EngineClosedError("the engine was closed")
        future: "asyncio.Future[Result]" = asyncio.get_running_loop().create_future()
        job_id = next(self._ids)
        try:
            self._core.submit(job_id, view, params)
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
        except (TypeError, ValueError):
            raise errors.RoiError(f"roi={roi!r}; pass (x, y, width, height) in frame pixels") from None
        return core.PreprocessParams(roi=(x, y, w, h), **self._param_kwargs)

    def _on_completions(self) -> None:
        native = self._core
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
                future.set_exception(_native_error(err_class, err_msg))
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

    def stats(self) -> List[Dict[str, Any]]:
        if self._core is None:
            return []
        out = []
        for i, s in enumerate(self._core.stats()):
            kind, simulated = self._kinds[i]
            s.update(model=self.key, kind=kind, simulated=simulated, reopens=self._reopens.get(i, 0))
            out.append(s)
        return out

    # -- health ------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Takes devices that report not ready out of rotation, and brings failed ones
        back: a probe invoke for transient failures, else a reopen with backoff."""
        loop = asyncio.get_running_loop()
        next_try: Dict[int, float] = {}
        delay: Dict[int, float] = {}
        while self._core is not None:
            await asyncio.sleep(HEALTH_INTERVAL_S)
            native = self._core
            if native is None:
                return
            for i, state in enumerate(native.stats()):
                placement, built = self._placements[i], self._devices[i]
                if state["healthy"]:
                    if built is not None and built.tpu is not None and not built.tpu.closed and not built.tpu.is_ready():
                        log.warning("%s: %s is not ready; taking it out of rotation", self.engine_name, placement[0])
                        native.set_healthy(i, False)
                    delay.pop(i, None)
                    continue
                now = time.monotonic()
                if now < next_try.get(i, 0.0):
                    continue
                if await loop.run_in_executor(None, self._recover, i):
                    log.warning("%s: %s is back in rotation", self.engine_name, placement[0])
                    self._reopens[i] = self._reopens.get(i, 0) + 1
                    delay.pop(i, None)
                else:
                    delay[i] = min(BACKOFF_MAX_S, delay.get(i, BACKOFF_FIRST_S / 2) * 2)
                    next_try[i] = now + delay[i]

    def _recover(self, index: int) -> bool:
        """Runs in an executor thread. True when the device is back in rotation."""
        native = self._core
        if native is None:
            return False
        placement, built = self._placements[index], self._devices[index]
        _, runtime, record = placement
        if built is not None and (built.tpu is None or (not built.tpu.closed and built.tpu.is_ready())):
            try:
                built.native.invoke()  # the lane is idle while unhealthy
                native.set_healthy(index, True)
                return True
            except StreamcoreError:
                if record is None:
                    return False  # a CPU interpreter that fails is not reopened
        if record is None:
            return False
        if built is not None:
            if native.retire_device(index) is None:
                return False  # a frame is still running on it
            self._engine._pool.forget(runtime, record)
            self._devices[index] = None
            del built  # the last references: the device closes and its path frees
        if record.path not in {p for _, p in runtime.enumerate()}:
            return False
        try:
            fresh = self._engine._pool.build(self.model, placement)
        except StreamcoreError as e:
            log.info("%s: reopening %s failed: %s", self.engine_name, placement[0], e)
            return False
        native.install_device(index, fresh.native)
        self._devices[index] = fresh
        return True


def _weak_method(method: Callable[[], None]) -> Callable[[], None]:
    # The native core holds this callback; a strong reference would keep the engine alive.
    ref = weakref.WeakMethod(method)

    def call() -> None:
        bound = ref()
        if bound is not None:
            bound()

    return call


def _native_error(class_name: str, message: str) -> StreamcoreError:
    cls = getattr(errors, class_name, errors.InferenceError)
    if not (isinstance(cls, type) and issubclass(cls, StreamcoreError)):
        cls = errors.InferenceError
    return cls(message)


@atexit.register
def _close_open_engines() -> None:
    for engine in list(_open_engines):
        engine.close_now()
