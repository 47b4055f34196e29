"""The asyncio face of the native scheduler: submit frames, await results."""

from __future__ import annotations

import asyncio
import atexit
import logging
import weakref
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union, cast

from ..backends.edgetpu import TpuOptions
from ..backends.base import BuiltDevice, Placement
from ..backends.pool import DevicePool
from ..backends.specs import DeviceSpec
from ..errors import EngineClosedError, InputError
from ..types import Result, TensorInfo
from .cascade import Cascade, CascadeRunner
from .deploy import Deploy, as_deploy
from .model import Model, ModelSource
from .runner import Adapter, Completion, ModelRunner, Roi, RunnerSettings
from .segments import Segments

__all__ = ["Engine", "Deploy", "Cascade", "Roi"]

log = logging.getLogger("streamcore.engine")

_open_engines: "weakref.WeakSet[Engine]" = weakref.WeakSet()


class Engine:
    """Runs a model on one or more devices.

    ``async with Engine("model.tflite", devices="cpu:2") as engine:``
    ``result = await engine.infer(frame)``

    Several models, each pinned to its own devices (one model per TPU, as Coral advises)::

        Engine({"detector": Deploy(ssd, "usb:0", Detect()), "classifier": (mobilenet, "usb:1")})
        await engine.infer(frame, model="detector")

    A cascade (a detector, then a second model on each object it finds; see ``Cascade``)::

        Engine(Cascade(detector=Deploy(ssd, "usb:0", Detect(0.5)),
                       classifier=Deploy(mobilenet, "usb:1", Classify()), when=lambda o: o.label == "car"))
        result = await engine.infer(frame)   # result.value: objects, each with .secondary

    ``frame`` is a PyAV VideoFrame or a numpy image (HxWx3 RGB, HxW gray, ...). Frames are
    preprocessed (colour conversion, resize, quantization) and run on the next device with
    room, round-robin. At most ``queue_depth`` frames wait per device; further ``infer``
    calls wait for room (backpressure). On Edge TPUs a device that fails is taken out of
    rotation, its frames are retried on the others, and it is reopened in the background.
    Worker threads run ``worker_nice`` steps below the caller's priority so the event loop
    stays responsive while they saturate the CPU (0 keeps them equal); the default 10 also
    keeps them below streamcore's decoder threads (5), which hold the GIL at times.
    Under a backlog (more frames in flight than the devices' queues hold, completing less
    than half of ``coalesce_ms`` apart) the event loop takes completions in batches at most
    ``coalesce_ms`` apart: fewer wake-ups and less host CPU per frame, for at most that much
    added latency on frames that were queued anyway. Awaited ``infer`` calls never build
    such a backlog; 0 takes every completion as it comes.
    """

    def __init__(
        self,
        model: Union[
            ModelSource, Segments, Sequence[ModelSource], Mapping[str, Union[Deploy, Tuple[Any, ...]]], Cascade
        ],
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
        coalesce_ms: float = 8.0,
        name: str = "engine",
    ) -> None:
        if queue_depth < 1:
            raise InputError(f"queue_depth={queue_depth}; it must be at least 1")
        if not isinstance(coalesce_ms, (int, float)) or isinstance(coalesce_ms, bool) or not 0 <= coalesce_ms <= 1000:
            raise InputError(f"coalesce_ms={coalesce_ms!r}; pass milliseconds from 0 (no batching) to 1000")
        self.name = name
        self._coalesce_ms = float(coalesce_ms)
        self._pool = DevicePool(
            TpuOptions(performance, usb_max_bulk_in_queue_length), fallback_to_cpu
        )
        self._pool.options.to_libedgetpu()  # invalid option values fail here
        defaults = dict(fit=fit, filter=filter, mean=mean, std=std, pad_value=pad_value, bgr=bgr)
        if isinstance(model, Cascade):
            if adapter is not None or devices != "auto":
                raise InputError("a cascade takes its devices and adapters from its Deploys; "
                                 "drop devices= and adapter= from Engine(...)")
            deploys = model.deploys()
        elif isinstance(model, Mapping):
            if not model:
                raise InputError("no models given; pass a model or a mapping name -> Deploy")
            deploys = {key: as_deploy(key, value) for key, value in model.items()}
        elif isinstance(model, (list, tuple)):  # pycoral style: the segments of one model, in order
            deploys = {"default": Deploy(Segments(model), devices, adapter)}
        else:
            deploys = {"default": Deploy(cast(Union[ModelSource, Segments], model), devices, adapter)}
        settings = RunnerSettings(name, queue_depth, worker_nice, failover, self._pool, self._coalesce_ms)
        self._runners: Dict[str, ModelRunner] = {
            key: ModelRunner(settings, key, d.model, d.devices, d.adapter, {**defaults, **d.preprocess})
            for key, d in deploys.items()
        }
        self._cascade = CascadeRunner.of(model, self._runners) if isinstance(model, Cascade) else None
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
            if self._cascade is not None:
                self._cascade.check()
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
            built[runner.key] = runner.build(self._pool)
            log.info("%s: %s on %s", self.name, runner.name,
                     ", ".join(f"{p.name} ({p.backend})" for p, _ in built[runner.key]))
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

    def _runner(self, model: Optional[str]) -> ModelRunner:
        if model is None:
            if len(self._runners) == 1:
                return next(iter(self._runners.values()))
            raise InputError(f"this engine runs several models; pass model= one of {sorted(self._runners)}")
        try:
            return self._runners[model]
        except KeyError:
            raise InputError(f"no model named {model!r}; this engine has {sorted(self._runners)}") from None

    async def infer(
        self,
        frame: Any,
        roi: Optional[Roi] = None,
        *,
        model: Optional[str] = None,
        inputs: Optional[Mapping[str, Any]] = None,
        **frame_options: Any,
    ) -> Result:
        """Runs one frame. ``roi=(x, y, w, h)`` restricts it to a region of the frame;
        ``model`` picks the model of a multi-model engine; ``inputs`` gives a multi-input
        model's inputs other than the image, by name; ``frame_options`` (format, matrix,
        range) describe numpy frames. On a cascade engine, ``model=None`` runs the cascade
        (``roi`` then limits the detector; crops come from the whole frame) and
        ``model="detector"`` or ``"classifier"`` runs one of its models alone."""
        if self._closed:
            raise EngineClosedError("the engine is closed; create a new Engine")
        if not self._started:
            raise EngineClosedError("the engine is not started; use `async with Engine(...)`")
        if self._cascade is not None and model is None:
            if inputs:
                raise InputError("a cascade's models take only frames; drop inputs=")
            return await self._cascade.infer(frame, roi, frame_options)
        return await self._runner(model).infer(frame, roi, frame_options, inputs)

    def submit_nowait(self, frame: Any, on_done: Completion, *, model: Optional[str] = None) -> None:
        """Submits `frame` without awaiting, from the event loop or any other thread (a decoder
        thread, say): the lightest path, with no task or future per frame. ``on_done(result,
        error)`` is called on the engine's event loop when the frame is done, with exactly one
        of the two set. Nothing bounds the frames in flight here: the caller keeps its own
        window (``Pipeline`` streams do). Errors of the submit itself (a bad frame, a closed
        engine) are raised here. Not for cascades or models with inputs besides the image."""
        if self._closed:
            raise EngineClosedError("the engine is closed; create a new Engine")
        if not self._started:
            raise EngineClosedError("the engine is not started; use `async with Engine(...)`")
        if not callable(on_done):
            raise InputError(f"on_done must be a callable taking (result, error), not {type(on_done).__name__}")
        self.frame_submitter(model)(frame, on_done)

    def frame_submitter(self, model: Optional[str] = None) -> Callable[[Any, Completion], None]:
        """submit_nowait for one model with its checks made once: the function a decoder
        thread calls per frame (``Pipeline`` streams do). It raises EngineClosedError once
        the engine is closed."""
        if self._cascade is not None and model is None:
            raise InputError("submit_nowait runs one model; a cascade engine takes `await infer(frame)`")
        runner = self._runner(model)
        if not runner.takes_frames_alone:
            raise InputError(f"{runner.model.name} takes inputs besides the image ({', '.join(runner.extra_inputs)}); "
                             "use `await infer(frame, inputs=...)`")
        return runner.submit_direct

    async def infer_tensor(self, tensor: Any, *, model: Optional[str] = None) -> Result:
        """Runs a tensor that is already the model's input (shape, dtype, quantization), with
        no preprocessing: a numpy array of the input's dtype and shape, or the input's bytes
        (bytes, memoryview, a zmq frame). The buffer is read in place: the device's worker
        copies it once into the input, so do not modify it until the result is back. The
        result's geometry maps tensor pixels to themselves."""
        if self._closed:
            raise EngineClosedError("the engine is closed; create a new Engine")
        if not self._started:
            raise EngineClosedError("the engine is not started; use `async with Engine(...)`")
        return await self._runner(model).infer_tensor(tensor)

    @property
    def cascade(self) -> Optional[Cascade]:
        """The cascade this engine runs, or None."""
        return None if self._cascade is None else self._cascade.spec

    def cascade_stats(self) -> Optional[Dict[str, Any]]:
        """A cascade engine's frames and objects (found, matched, classified, failed,
        skipped) and second-stage cost; None for other engines."""
        return None if self._cascade is None else self._cascade.stats()

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

    def plan(self, model: Optional[str] = None) -> List[Dict[str, Any]]:
        """A pipelined model's placement: per segment its model, measured invoke ms, devices
        (replicas of the slowest segments on spare devices) and ms per frame; [] otherwise."""
        return [dict(p) for p in self._runner(model).plan]

    def stats(self) -> List[Dict[str, Any]]:
        """Per device and model: frames, errors, busy seconds, in flight, healthy, retried,
        reopens, and whether the device is simulated; for a pipelined model also the device's
        segment, its model and measured invoke ms (the plan)."""
        return [s for r in self._runners.values() for s in r.stats()]

    def completion_stats(self) -> Dict[str, Any]:
        """How completions reached the event loop: ``drains`` (batches taken), ``frames``
        (completions in them), ``frames_per_drain``, and ``deferred`` (batches put off
        under a backlog, see ``coalesce_ms``), all models."""
        drains = sum(r.drains for r in self._runners.values())
        frames = sum(r.drained for r in self._runners.values())
        return {"drains": drains, "frames": frames,
                "frames_per_drain": round(frames / drains, 3) if drains else None,
                "deferred": sum(r.deferred for r in self._runners.values()),
                "coalesce_ms": self._coalesce_ms}

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self._started else "not started")
        models = ", ".join(f"{k}={r.name}" for k, r in self._runners.items())
        return f"Engine({models}, devices={self.devices}, {state})"


@atexit.register
def _close_open_engines() -> None:
    for engine in list(_open_engines):
        engine.close_now()
