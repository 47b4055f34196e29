"""The asyncio face of the native scheduler: submit frames, await results."""

from __future__ import annotations

import asyncio
import atexit
import itertools
import logging
import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import errors
from ._native import core
from .devices import DeviceSpec, default_cpu_count, parse_devices
from .errors import DeviceError, EngineClosedError, StreamcoreError
from .frames import to_frame_view
from .geometry import Geometry
from .interpreters import BuiltDevice, build_cpu_device, output_layout
from .model import Model, ModelSource
from .results import Result, Timings
from .tensors import TensorInfo

__all__ = ["Engine", "Roi"]

log = logging.getLogger("streamcore.engine")

Roi = Tuple[int, int, int, int]  # x, y, width, height in frame pixels

_open_engines: "weakref.WeakSet[Engine]" = weakref.WeakSet()
_stuck_cores: List[Any] = []  # cores whose workers outlived close(): never freed under them


class Engine:
    """Runs one model on one or more devices.

    ``async with Engine("model.tflite", devices="cpu:2") as engine:``
    ``result = await engine.infer(frame)``

    ``frame`` is a PyAV VideoFrame or a numpy image (HxWx3 RGB, HxW gray, ...). Frames are
    preprocessed (colour conversion, resize, quantization) and run on the next device with
    room, round-robin. At most ``queue_depth`` frames wait per device; further ``infer``
    calls wait for room (backpressure). Worker threads run ``worker_nice`` steps below the
    caller's priority so that the event loop stays responsive while they saturate the CPU
    (0 keeps them equal).
    """

    def __init__(
        self,
        model: ModelSource,
        devices: DeviceSpec = "auto",
        *,
        adapter: Optional[Callable[[Result], Any]] = None,
        fit: str = "stretch",
        filter: str = "bilinear",
        mean: float = 128.0,
        std: float = 128.0,
        pad_value: int = 0,
        bgr: bool = False,
        queue_depth: int = 2,
        worker_nice: int = 5,
        name: str = "engine",
    ) -> None:
        if queue_depth < 1:
            raise errors.InputError(f"queue_depth={queue_depth}; it must be at least 1")
        self.model = Model.load(model)
        self.requests = parse_devices(devices)
        self.adapter = adapter
        self.name = name
        self._param_kwargs: Dict[str, Any] = dict(
            fit=fit, filter=filter, mean=mean, std=std, pad_value=pad_value, bgr=bgr
        )
        self._params = core.PreprocessParams(**self._param_kwargs)  # validates fit and filter
        self._queue_depth = queue_depth
        self._worker_nice = worker_nice
        self._core: Any = None
        self._devices: List[BuiltDevice] = []
        self._pending: Dict[int, "asyncio.Future[Result]"] = {}
        self._ids = itertools.count()
        self._slots: Optional[asyncio.Semaphore] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._starting: Optional["asyncio.Future[None]"] = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> "Engine":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def started(self) -> bool:
        return self._core is not None

    @property
    def closed(self) -> bool:
        return self._closed

    async def start(self) -> None:
        """Builds the interpreters (off the event loop) and starts the workers. Idempotent."""
        if self._closed:
            raise EngineClosedError("the engine is closed; create a new Engine")
        if self._core is not None:
            return
        if self._starting is not None:
            await asyncio.shield(self._starting)
            return
        loop = asyncio.get_running_loop()
        self._starting = loop.create_future()
        try:
            devices = await loop.run_in_executor(None, self._build_devices)
            self._install(loop, devices)
            self._starting.set_result(None)
        except BaseException as e:
            self._starting.set_exception(e)
            self._starting.exception()  # retrieved: waiters get it through shield
            self._starting = None
            raise

    def _build_devices(self) -> List[BuiltDevice]:
        built: List[BuiltDevice] = []
        for request in self.requests:
            if request.kind == "cpu" or (request.kind == "auto" and not self._tpus_present()):
                count = request.count if request.kind == "cpu" else default_cpu_count()
                for _ in range(count):
                    built.append(build_cpu_device(self.model, f"cpu{len(built)}"))
            else:
                raise DeviceError(
                    f"device {request} needs the Edge TPU backend, which this build does not "
                    "have yet; use devices='cpu' or 'cpu:N'"
                )
        return built

    @staticmethod
    def _tpus_present() -> bool:
        return False

    def _install(self, loop: asyncio.AbstractEventLoop, devices: List[BuiltDevice]) -> None:
        first = devices[0]
        layout = output_layout(first.outputs)
        native = core.EngineCore(
            devices=[d.native for d in devices],
            depth=self._queue_depth,
            loop=loop,
            on_completions=_weak_method(self._on_completions),
            failover=False,
            name=self.name,
            outputs=[(dtype, shape, offset) for dtype, shape, offset, _ in layout],
            worker_nice=self._worker_nice,
        )
        native.start()
        self._loop = loop
        self._devices = devices
        self._slots = asyncio.Semaphore(native.capacity)
        self._core = native
        _open_engines.add(self)

    async def close(self, timeout: float = 5.0) -> None:
        """Stops the workers (waiting at most `timeout` for a running invoke), fails frames
        that had not started with EngineClosedError. Idempotent."""
        if self._closed:
            return
        self._closed = True
        native = self._core
        if native is None:
            return
        loop = asyncio.get_running_loop()
        stopped = await loop.run_in_executor(None, native.close, timeout)
        self._finish_close(native, stopped)

    def _finish_close(self, native: Any, stopped: bool) -> None:
        self._on_completions()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(EngineClosedError("the engine was closed"))
        self._pending.clear()
        if not stopped:
            log.warning("%s: a device was still busy after close(); leaving it to finish", self.name)
            _stuck_cores.append(native)
        _open_engines.discard(self)

    def close_now(self, timeout: float = 2.0) -> None:
        """Synchronous close for atexit and non-async callers (blocks up to `timeout`)."""
        if self._closed:
            return
        self._closed = True
        if self._core is not None:
            stopped = self._core.close(timeout)
            self._finish_close(self._core, stopped)

    # -- inference ---------------------------------------------------------------------

    @property
    def input_details(self) -> List[TensorInfo]:
        return self._require_started().inputs

    @property
    def output_details(self) -> List[TensorInfo]:
        return self._require_started().outputs

    @property
    def capacity(self) -> int:
        """Frames that can be in flight at once (queue_depth per device)."""
        return int(self._core.capacity) if self._core is not None else 0

    @property
    def devices(self) -> List[str]:
        return [d.name for d in self._devices]

    def _require_started(self) -> BuiltDevice:
        if not self._devices:
            raise EngineClosedError("the engine is not started; use `async with Engine(...)`")
        return self._devices[0]

    async def infer(self, frame: Any, roi: Optional[Roi] = None, **frame_options: Any) -> Result:
        """Runs one frame. ``roi=(x, y, w, h)`` restricts it to a region of the frame.
        ``frame_options`` (format, matrix, range) describe numpy frames."""
        if self._closed:
            raise EngineClosedError("the engine is closed; create a new Engine")
        if self._core is None or self._slots is None:
            raise EngineClosedError("the engine is not started; use `async with Engine(...)`")
        view = to_frame_view(frame, **frame_options)
        params = self._params if roi is None else self._roi_params(roi)
        await self._slots.acquire()
        future: "asyncio.Future[Result]" = asyncio.get_running_loop().create_future()
        job_id = next(self._ids)
        try:
            self._core.submit(job_id, view, params)
        except BaseException:
            self._slots.release()
            raise
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
        details = self._devices[0].outputs
        names = self.devices
        for job_id, outputs, geometry, timings, device, _attempts, err_class, err_msg in native.drain():
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
        """Per device: frames, errors, busy seconds, in flight, healthy."""
        return [] if self._core is None else list(self._core.stats())

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self._core else "not started")
        return f"Engine({self.model.name!r}, devices={self.devices or self.requests}, {state})"


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
