"""One model of an engine on its devices: submits frames to the native core and turns its
completions back into results on the awaiting futures."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from .. import errors
from .._native import core
from ..backends.base import BuiltDevice, Placement, output_layout
from ..backends.pool import DevicePool
from ..backends.registry import parse_devices
from ..backends.specs import DeviceSpec
from ..errors import EngineClosedError
from ..types import Geometry, Result, TensorInfo, Timings
from .frames import AvVideoFrame, av_frame_view, check_tensor, to_frame_view
from .health import HealthMonitor
from .model import Model, ModelSource
from .segments import Segments, plan_replicas

__all__ = ["ModelRunner", "RunnerSettings", "Adapter", "Completion", "Roi", "frame_view"]

log = logging.getLogger("streamcore.engine")

Roi = Tuple[int, int, int, int]  # x, y, width, height in frame pixels
Adapter = Callable[[Result], Any]
Completion = Callable[[Optional[Result], Optional[BaseException]], None]  # submit_direct's callback

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
    coalesce_ms: float = 0.0


class ModelRunner:
    """One model on its devices: the native core, the pending futures, and the health
    monitor that keeps failed devices out of rotation and brings them back."""

    def __init__(self, settings: RunnerSettings, key: str, model: Union[ModelSource, Segments], devices: DeviceSpec,
                 adapter: Optional[Adapter], params: Dict[str, Any]) -> None:
        self.settings = settings
        self.engine_name = settings.name
        self.key = key
        # A pipelined model's segments in order; one model otherwise.
        self.stages: List[Model] = list(model.models) if isinstance(model, Segments) else [Model.load(model)]
        self.model = self.stages[0]
        self.devices_spec = devices
        self.requests = parse_devices(devices)
        self.lane_stages: List[int] = []  # each device's segment
        self.plan: List[Dict[str, Any]] = []  # pipelined models: per segment, its invoke time and devices
        self._extras: Dict[str, Tuple[int, int, TensorInfo]] = {}  # caller-given inputs: stage, index, info
        self.adapter = adapter
        self._param_kwargs = params
        self._params = core.PreprocessParams(**params)  # validates fit and filter
        self.native: Any = None
        self.placements: List[Placement] = []
        self._names: List[str] = []  # the placements' names, by device index
        self.devices: List[Optional[BuiltDevice]] = []  # None while a device is being reopened
        self._kinds: List[Tuple[str, bool, str]] = []  # (kind, simulated, backend) per device
        self._details: Optional[Tuple[List[TensorInfo], List[TensorInfo]]] = None  # inputs, outputs
        # Submitted and not yet drained: a future (its caller holds one of `_slots`) or, for
        # submit_direct, the callback that takes the outcome.
        self._pending: Dict[int, Union["asyncio.Future[Result]", Completion]] = {}
        self._ids = itertools.count()
        self._last_geometry: Optional[Tuple[Any, Geometry]] = None  # (native tuple, Geometry)
        self._slots: Optional[asyncio.Semaphore] = None
        self._monitor: Optional["asyncio.Task[None]"] = None
        self._health: Optional[HealthMonitor] = None
        self._watched: Optional[asyncio.AbstractEventLoop] = None  # the loop watching native.wake_fd
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._coalesce = settings.coalesce_ms / 1000.0
        self._last_drain = float("-inf")  # loop.time() of the last drain
        self._gap = 1.0  # seconds between completions, smoothed
        self._backlog = 0  # frames in flight beyond which every device has a frame queued
        self._deferred: Optional[asyncio.TimerHandle] = None  # a batch's drain, put off
        self._drain_later: Callable[[], None] = _weak_method(self._drain_deferred)
        self.reopens: Dict[int, int] = {}  # per device: times it came back
        self.drains = self.drained = self.deferred = 0  # completion batches, their frames, batches put off

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        return " -> ".join(m.name for m in self.stages)

    def model_for(self, index: int) -> Model:
        """The model device `index` runs (its segment's, for a pipelined model)."""
        return self.stages[self.lane_stages[index]] if self.lane_stages else self.model

    def build(self, pool: DevicePool) -> List[Tuple[Placement, BuiltDevice]]:
        """Places and builds the devices (in an executor thread). A pipelined model gets one
        device per segment, then its spare devices go to the slowest segments by measured
        invoke time (replicas)."""
        placements = pool.place(self.requests)
        count = len(self.stages)
        if count > 1 and len(placements) < count:
            names = ", ".join(p.name for p in placements)
            raise errors.DeviceSpecError(
                f"{self.name}: a model in {count} segments needs at least {count} devices, one per segment; "
                f"devices={self.devices_spec!r} gives {len(placements)} ({names}); pass {count} or more, "
                f"e.g. devices='usb:0,usb:1' or 'sim:{count}'"
            )
        for model in self.stages:
            pool.check(model, placements)
        if count == 1:
            self.lane_stages = [0] * len(placements)
            return [(p, pool.build(self.model, p)) for p in placements]
        built = [(placements[k], pool.build(self.stages[k], placements[k])) for k in range(count)]
        times = [_invoke_ms(device) for _, device in built]
        replicas = plan_replicas(times, len(placements) - count)
        stages = list(range(count)) + [k for k in range(count) for _ in range(replicas[k] - 1)]
        for placement, stage in zip(placements[count:], stages[count:]):
            built.append((placement, pool.build(self.stages[stage], placement)))
        self.lane_stages = stages
        self.plan = [
            {
                "segment": k,
                "model": self.stages[k].name,
                "invoke_ms": round(times[k], 3),
                "devices": [p.name for p, stage in zip(placements, stages) if stage == k],
                "frame_ms": round(times[k] / replicas[k], 3),  # the segment's share of each frame's time
            }
            for k in range(count)
        ]
        log.info("%s: pipelined %s", self.engine_name, "; ".join(
            f"segment {p['segment']} ({p['model']}, {p['invoke_ms']} ms) on {', '.join(p['devices'])}" for p in self.plan))
        return built

    def install(self, loop: asyncio.AbstractEventLoop, built: List[Tuple[Placement, BuiltDevice]]) -> None:
        stages = self.lane_stages or [0] * len(built)
        firsts: Dict[int, BuiltDevice] = {}
        for (_, device), stage in zip(built, stages):
            first = firsts.setdefault(stage, device)
            if [(o.shape, o.dtype) for o in device.outputs] != [(o.shape, o.dtype) for o in first.outputs]:
                raise errors.ModelError(
                    f"{self.stages[stage].name}: {device.name} ({device.backend}) gives outputs "
                    f"{[(o.shape, o.dtype.name) for o in device.outputs]} but {first.name} ({first.backend}) "
                    f"gives {[(o.shape, o.dtype.name) for o in first.outputs]}; one engine's devices must agree"
                )
        head, last = firsts[0], firsts[len(self.stages) - 1]
        feeds: List[List[Tuple[int, int, int]]] = [[]]
        for k in range(1, len(self.stages)):
            feeds.append(self._feeds(k, firsts[k - 1], firsts[k]))
        has_tpu = any(d.kind != "cpu" for _, d in built)
        failover = has_tpu if self.settings.failover is None else self.settings.failover
        layout = output_layout(last.outputs)
        on_completions = _weak_method(self._on_wake)
        self._loop = loop
        native = core.EngineCore(
            devices=[d.native for _, d in built],
            depth=self.settings.queue_depth,
            loop=loop,
            on_completions=on_completions,
            failover=failover,
            name=f"{self.engine_name}.{self.key}",
            outputs=[(dtype, shape, offset) for dtype, shape, offset, _ in layout],
            worker_nice=self.settings.worker_nice,
            stages=stages,
            feeds=feeds,
        )
        # The loop watches the native wake-up descriptor: completions then reach it with one
        # write from the worker, no GIL taken on the way. Loops that cannot watch a
        # descriptor (Windows' proactor) are woken by a notifier thread instead.
        try:
            loop.add_reader(native.wake_fd, on_completions)
            self._watched = loop
        except NotImplementedError:
            self._watched = None
        native.start(self._watched is not None)
        self.placements = [p for p, _ in built]
        self._names = [p.name for p in self.placements]
        self.devices = [d for _, d in built]
        self._kinds = [(d.kind, d.simulated, d.backend) for _, d in built]
        self._details = (head.inputs, last.outputs)
        self._extras = {info.name: (0, i, info) for i, info in enumerate(head.inputs) if i != head.image_input}
        self._slots = asyncio.Semaphore(native.capacity)
        self._backlog = native.capacity + len(built)  # the scheduler keeps its lanes within one of each other
        self.native = native
        if failover:
            self._health = HealthMonitor(self, self.settings.pool)
            self._monitor = loop.create_task(self._health.watch(), name=f"streamcore-health-{self.key}")

    def _feeds(self, k: int, before: BuiltDevice, after: BuiltDevice) -> List[Tuple[int, int, int]]:
        """(input, offset, bytes) of segment k's inputs inside segment k-1's output block."""
        layout = output_layout(before.outputs)
        produced = {info.name: (info, layout[i]) for i, info in enumerate(before.outputs)}
        feeds = []
        for i, info in enumerate(after.inputs):
            found = produced.get(info.name)
            if found is None or (found[0].shape, found[0].dtype) != (info.shape, info.dtype):
                what = "is not an output" if found is None else f"is {list(found[0].shape)} {found[0].dtype} as output"
                raise errors.ModelError(
                    f"segments do not chain on {after.name}: input {info.name!r} ({list(info.shape)} {info.dtype}) "
                    f"of segment {k} ({self.stages[k].name}) {what} of segment {k - 1} ({self.stages[k - 1].name})"
                )
            _, (_, _, offset, nbytes) = found
            feeds.append((i, offset, nbytes))
        return feeds

    def discard(self) -> None:
        """Undoes a partial start."""
        if self.native is not None:
            self._unwatch(self.native)
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

    def _unwatch(self, native: Any) -> None:
        loop, self._watched = self._watched, None
        if loop is not None and not loop.is_closed():
            loop.remove_reader(native.wake_fd)

    def _finish_close(self, native: Any, stopped: bool) -> None:
        self._unwatch(native)
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        self._on_completions()
        pending, self._pending = self._pending, {}
        for entry in pending.values():
            closed = EngineClosedError("the engine was closed")
            if not isinstance(entry, asyncio.Future):
                self._call(entry, None, closed)
            elif not entry.done():
                entry.set_exception(closed)
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
    def extra_inputs(self) -> List[str]:
        """The model's inputs besides the image, which the caller gives by name."""
        return sorted(self._extras)

    @property
    def takes_frames_alone(self) -> bool:
        """Whether the image is the model's only input."""
        return not self._extras

    @property
    def inflight(self) -> int:
        """Submitted to the native core and not yet drained."""
        return len(self._pending)

    @property
    def device_names(self) -> List[str]:
        return list(self._names)

    def details(self) -> Tuple[List[TensorInfo], List[TensorInfo]]:
        if self._details is None:
            raise EngineClosedError("the engine is not started; use `async with Engine(...)`")
        return self._details

    async def infer(self, frame: Any, roi: Optional[Roi], frame_options: Dict[str, Any],
                    inputs: Optional[Mapping[str, Any]] = None) -> Result:
        if self.native is None or self._slots is None:
            raise EngineClosedError("the engine is closed; create a new Engine")
        return await self.infer_view(frame_view(frame, frame_options), roi, inputs)

    async def infer_view(self, view: Any, roi: Optional[Roi], inputs: Optional[Mapping[str, Any]] = None) -> Result:
        """Runs a frame already borrowed as a native FrameView: one view can be submitted
        any number of times (each job keeps it alive), e.g. once per crop of a cascade."""
        if self.native is None or self._slots is None:
            raise EngineClosedError("the engine is closed; create a new Engine")
        extras = self._extra_inputs(inputs)
        params = self._params if roi is None else self._roi_params(roi)
        return await self._run(lambda native, job_id: native.submit(job_id, view, params, extras))

    async def infer_tensor(self, tensor: Any) -> Result:
        if self.native is None or self._slots is None:
            raise EngineClosedError("the engine is closed; create a new Engine")
        if self._extras:
            raise errors.InputError(
                f"{self.model.name} takes inputs besides the image ({', '.join(sorted(self._extras))}); "
                "infer_tensor feeds single-input models only: use infer(frame, inputs=...)"
            )
        check_tensor(tensor, self.details()[0][0])
        return await self._run(lambda native, job_id: native.submit_tensor(job_id, tensor))

    def submit_direct(self, frame: Any, on_done: Completion) -> None:
        """Submits `frame` from any thread, the GIL released around the native hand-off; no
        future, no task and no engine slot: the caller bounds its own frames in flight.
        ``on_done(result, error)`` runs on the event loop, in the batch its job is drained
        with. Raises (on the calling thread) what the submit itself refuses."""
        native = self.native
        if native is None:
            raise EngineClosedError("the engine is closed; create a new Engine")
        view = av_frame_view(frame) if type(frame) is AvVideoFrame else to_frame_view(frame)
        job_id = next(self._ids)
        self._pending[job_id] = on_done  # before the submit: the job may be drained before it returns
        try:
            native.submit(job_id, view, self._params, (), True)
        except BaseException:
            self._pending.pop(job_id, None)
            raise

    async def _run(self, submit: Callable[[Any, int], None]) -> Result:
        assert self._slots is not None
        await self._slots.acquire()
        if self.native is None:  # closed while waiting for room
            self._slots.release()
            raise EngineClosedError("the engine was closed")
        future: "asyncio.Future[Result]" = asyncio.get_running_loop().create_future()
        job_id = next(self._ids)
        try:
            submit(self.native, job_id)
        except BaseException:
            self._slots.release()
            raise
        self._pending[job_id] = future
        result = await future
        if self.adapter is not None:
            result.value = self.adapter(result)
        return result

    def _extra_inputs(self, given: Optional[Mapping[str, Any]]) -> List[Tuple[int, int, Any]]:
        """The caller's arrays for the model's inputs other than the image, checked by name."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self._extras))
        if unknown:
            raise errors.InputError(
                f"{self.model.name} has no input {', '.join(map(repr, unknown))} to give; its inputs besides the "
                f"image are {sorted(self._extras) or 'none'}"
            )
        missing = sorted(set(self._extras) - set(given))
        if missing:
            raise errors.InputError(
                f"{self.model.name} needs input{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
                "besides the frame; pass infer(frame, inputs={name: array})"
            )
        out = []
        for name, (stage, index, info) in self._extras.items():
            array = np.asarray(given[name])
            if array.dtype != info.dtype:
                if not np.can_cast(array.dtype, info.dtype, "same_kind"):
                    raise errors.InputError(f"input {name!r} is {info.dtype}; got {array.dtype}, which does not convert safely")
                array = array.astype(info.dtype)
            if array.size != int(np.prod(info.shape, dtype=np.int64)):
                raise errors.InputError(f"input {name!r} is {list(info.shape)} {info.dtype}; got shape {list(array.shape)}")
            out.append((stage, index, np.ascontiguousarray(array)))
        return out

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

    def _on_wake(self) -> None:
        """The native core has completions. Under a backlog they are taken in batches: the
        drain waits until `coalesce_ms` after the last one when more frames are in flight
        than the devices' queues hold, by one per device (every device keeps work meanwhile,
        and these frames were waiting anyway), and completions have been coming less than
        half of `coalesce_ms` apart. One loop wake-up, one drain and one reader wake-up then
        serve several frames. Without a backlog (awaited infers hold at most the devices'
        queues; live cameras the devices keep up with build none) each is taken at once."""
        native = self.native
        if native is None:
            return
        if self._deferred is not None:
            native.ack_wake()  # a drain is due anyway; a readable descriptor must not spin the loop
            return
        assert self._loop is not None
        due = self._last_drain + self._coalesce
        if len(self._pending) > self._backlog and self._gap * 2.0 <= self._coalesce and self._loop.time() < due:
            native.ack_wake()
            self._deferred = self._loop.call_at(due, self._drain_later)
            self.deferred += 1
            return
        self._on_completions()

    def _drain_deferred(self) -> None:
        self._deferred = None
        self._on_completions()

    def _on_completions(self) -> None:
        native = self.native
        if native is None:
            return
        assert self._details is not None
        details = self._details[1]
        names = self._names
        jobs = native.drain()
        if self._loop is not None and jobs:
            # The mean gap between completions, smoothed over drains (an idle spell counts 1 s).
            now = self._loop.time()
            self._gap += (min((now - self._last_drain) / len(jobs), 1.0) - self._gap) * 0.25
            self._last_drain = now
            self.drains += 1
            self.drained += len(jobs)
        for job_id, outputs, geometry, timings, device, _attempts, err_class, err_msg in jobs:
            entry = self._pending.pop(job_id, None)
            if entry is None:
                continue
            future = entry if isinstance(entry, asyncio.Future) else None
            if future is not None:  # infer(): its caller holds a slot; submit_direct's holds none
                if self._slots is not None:
                    self._slots.release()
                if future.done():
                    continue  # the caller was cancelled; its outputs are simply dropped
            if err_class is not None:
                error = errors.from_native(err_class, err_msg)
                if future is not None:
                    future.set_exception(error)
                else:
                    self._call(entry, None, error)
                continue
            # A stream's frames share one geometry: reuse the (frozen) object while it holds.
            cached = self._last_geometry
            if cached is None or (cached[0] is not geometry and cached[0] != geometry):
                cached = self._last_geometry = (geometry, Geometry(*geometry))
            result = Result(outputs, details, cached[1], Timings(*timings), names[device])  # positional: per frame
            if future is not None:
                future.set_result(result)  # the adapter runs in _run, on the caller's task
                continue
            if self.adapter is not None:
                try:
                    result.value = self.adapter(result)
                except Exception as e:  # the adapter's bug or the model's odd output: this frame's error
                    self._call(entry, None, e)
                    continue
            self._call(entry, result, None)

    def _call(self, on_done: Any, result: Optional[Result], error: Optional[BaseException]) -> None:
        try:
            on_done(result, error)
        except Exception:  # the callback's own bug must not strand the rest of the batch
            log.exception("%s: a submit_nowait callback raised", self.engine_name)

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
            stage = s.pop("stage")
            if self.plan:  # pipelined: the device's segment and the plan's figures for it
                s.update(segment=stage, segment_model=self.plan[stage]["model"],
                         segment_invoke_ms=self.plan[stage]["invoke_ms"])
            out.append(s)
        return out


def frame_view(frame: Any, frame_options: Dict[str, Any]) -> Any:
    """Borrows `frame` as a native FrameView (no copy), checking the frame options."""
    unknown = sorted(set(frame_options) - set(_FRAME_OPTIONS))
    if unknown:
        raise errors.InputError(
            f"unknown frame option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"infer takes {', '.join(_FRAME_OPTIONS)} (as strings) besides roi and model"
        )
    return to_frame_view(frame, **frame_options)


def _weak_method(method: Callable[[], None]) -> Callable[[], None]:
    # The native core and the loop's reader hold this callback; a strong reference would keep
    # the runner alive. weakref.ref is called in C, WeakMethod in Python: this runs per batch.
    ref = weakref.ref(method.__self__)  # type: ignore[attr-defined]
    func = method.__func__  # type: ignore[attr-defined]

    def call() -> None:
        owner = ref()
        if owner is not None:
            func(owner)

    return call


def _invoke_ms(device: BuiltDevice, runs: int = 5) -> float:
    """A segment's invoke time on its device: the median of a few runs after a warm-up."""
    device.native.invoke()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        device.native.invoke()
        samples.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(samples))
