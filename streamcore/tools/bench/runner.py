"""Runs one device configuration in one mode through streamcore's Engine (or Pipeline) and
measures it."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from ...adapters.auto import make_adapter
from ...engine.engine import Engine
from ...pipeline.pipeline import Pipeline
from ...types import Result
from .clip import DecodedVideo
from .metrics import Budget, ResourceSampler, ResourceUsage, mean_or_none, summarize
from .plan import DeviceConfig
from .progress import Progress

__all__ = ["Inputs", "Settings", "run_config", "Collected", "make_record"]


@dataclass
class Inputs:
    videos: List[DecodedVideo]  # pre-decoded frames of each video, with decode timings
    synthetic: bool  # the built-in clip rather than --video

    def for_stream(self, k: int) -> DecodedVideo:
        return self.videos[k % len(self.videos)]


@dataclass
class Settings:
    streams: int
    seconds: Optional[float]
    frames: Optional[int]
    warmup: int
    labels: Optional[Dict[int, str]]

    def budget(self) -> Budget:
        return Budget(self.seconds, self.frames)


class TimedAdapter:
    """The adapter the engine applies after each inference, timed: the postprocess stage."""

    def __init__(self, inner: Callable[[Result], Any]) -> None:
        self.inner = inner
        self.ms: List[float] = []
        self.recording = False

    def __call__(self, result: Result) -> Any:
        t = time.perf_counter()
        value = self.inner(result)
        if self.recording:
            self.ms.append((time.perf_counter() - t) * 1000.0)
        return value


@dataclass
class Collected:
    """Per-frame samples of one measurement."""

    latency_ms: List[float] = field(default_factory=list)
    queue_ms: List[float] = field(default_factory=list)
    preprocess_ms: List[float] = field(default_factory=list)
    invoke_ms: List[float] = field(default_factory=list)
    postprocess_ms: List[float] = field(default_factory=list)
    decode_ms: List[float] = field(default_factory=list)
    stream_frames: List[int] = field(default_factory=list)
    dropped: List[int] = field(default_factory=list)
    errors: int = 0
    frames: int = 0

    def add(self, result: Result, latency_ms: float, stream: int) -> None:
        t = result.timings
        self.latency_ms.append(latency_ms)
        self.queue_ms.append(t.queue_ms)
        self.preprocess_ms.append(t.preprocess_ms)
        self.invoke_ms.append(t.invoke_ms)
        self.stream_frames[stream] += 1
        self.frames += 1


def make_record(
    *, config: str, label: str, kind: str, simulated: bool, mode: str, streams: int, model: Dict[str, Any],
    collected: Collected, usage: ResourceUsage, load_s: Optional[float], first_ms: Optional[float],
    devices: List[Dict[str, Any]], notes: List[str], baseline: Optional[str] = None,
) -> Dict[str, Any]:
    wall = usage.wall_s
    frames = collected.frames
    return {
        "config": config,
        "label": label,
        "kind": kind,
        "simulated": simulated,
        "baseline": baseline is not None,
        "baseline_variant": baseline,
        "mode": mode,
        "streams": streams,
        "model": model,
        "load_s": None if load_s is None else round(load_s, 4),
        "first_inference_ms": None if first_ms is None else round(first_ms, 3),
        "latency_ms": summarize(collected.latency_ms),
        "frames": frames,
        "seconds": round(wall, 3),
        "fps": round(frames / wall, 2) if wall > 0 else 0.0,
        "speedup_vs_baseline": None,
        "ratio_vs_first": None,
        "stages_ms": {
            "decode": mean_or_none(collected.decode_ms),
            "preprocess": mean_or_none(collected.preprocess_ms),
            "queue": mean_or_none(collected.queue_ms),
            "invoke": mean_or_none(collected.invoke_ms),
            "postprocess": mean_or_none(collected.postprocess_ms),
        },
        "cpu": {
            "process_percent": round(usage.process_percent, 1),
            "process_percent_max": round(usage.process_percent_max, 1),
            "host_percent": round(usage.host_percent, 1),
            "cpu_seconds": round(usage.cpu_s, 4),
            "cpu_ms_per_frame": round(usage.cpu_s / frames * 1000.0, 4) if frames else None,
        },
        "peak_rss_mb": round(usage.peak_rss_mb, 1),
        "devices": devices,
        "streams_detail": [
            {"name": f"stream{k}", "frames": n, "fps": round(n / wall, 2) if wall > 0 else 0.0,
             "dropped": collected.dropped[k]}
            for k, n in enumerate(collected.stream_frames)
        ],
        "errors": collected.errors,
        "notes": notes,
    }


async def run_config(config: DeviceConfig, mode: str, inputs: Inputs, settings: Settings,
                     progress: Progress) -> Dict[str, Any]:
    # Every object an SSD keeps (its own top-k), the best class of a classifier.
    inner: Callable[[Result], Any] = make_adapter(config.model.task, top_k=None if config.model.detector else 1,
                                                  labels=settings.labels)
    adapter = TimedAdapter(inner)
    started = time.perf_counter()
    engine = Engine(config.model.source, devices=config.spec, adapter=adapter)
    try:
        await engine.start()
        load_s = time.perf_counter() - started
        frame = inputs.videos[0].frames[0]
        t = time.perf_counter()
        await engine.infer(frame)
        first_ms = (time.perf_counter() - t) * 1000.0
        warm = inputs.videos[0].frames
        for i in range(settings.warmup):
            await engine.infer(warm[i % len(warm)])
        streams = 1 if mode == "latency" else settings.streams
        collected = Collected(stream_frames=[0] * streams, dropped=[0] * streams)
        before = {d["name"]: d for d in engine.stats()}
        budget = settings.budget()
        sampler = ResourceSampler()
        adapter.recording = True
        sampler.start()
        budget.start()
        ticker = asyncio.get_running_loop().create_task(_report(progress, budget, collected))
        try:
            if mode == "latency":
                await _latency(engine, frame, budget, collected)
            elif mode == "throughput":
                await _throughput(engine, inputs, streams, budget, collected)
            else:
                await _pipeline(engine, inputs, streams, budget, collected)
        finally:
            ticker.cancel()
            usage = sampler.stop()
            adapter.recording = False
        collected.postprocess_ms = adapter.ms
        if mode == "pipeline":
            collected.decode_ms = [ms for k in range(streams) for ms in inputs.for_stream(k).decode_ms]
        devices = _device_usage(before, engine.stats(), usage.wall_s)
    finally:
        await engine.close()
    notes = list(config.notes)
    return make_record(
        config=config.spec, label=config.label, kind=config.kind, simulated=config.simulated, mode=mode,
        streams=streams, model=config.model.as_json(), collected=collected, usage=usage, load_s=load_s,
        first_ms=first_ms, devices=devices, notes=notes,
    )


async def _report(progress: Progress, budget: Budget, collected: Collected) -> None:
    while True:
        await asyncio.sleep(0.25)
        elapsed = budget.elapsed()
        fps = collected.frames / elapsed if elapsed > 0 else 0.0
        progress.update(budget.fraction(collected.frames), f"{elapsed:5.1f} s  {collected.frames} frames  {fps:7.1f} FPS")


async def _latency(engine: Engine, frame: Any, budget: Budget, collected: Collected) -> None:
    """One image, one request at a time: the articles' latency loop."""
    while not budget.done(collected.frames):
        t = time.perf_counter()
        result = await engine.infer(frame)
        collected.add(result, (time.perf_counter() - t) * 1000.0, 0)


async def _throughput(engine: Engine, inputs: Inputs, streams: int, budget: Budget, collected: Collected) -> None:
    """Pre-decoded frames from `streams` producers that together keep the engine full."""
    window = max(1, math.ceil(engine.capacity / streams))

    async def stream(k: int) -> None:
        frames = inputs.for_stream(k).frames
        position = k * 7

        async def worker() -> None:
            nonlocal position
            while not budget.done(collected.frames):
                frame = frames[position % len(frames)]
                position += 1
                t = time.perf_counter()
                result = await engine.infer(frame)
                collected.add(result, (time.perf_counter() - t) * 1000.0, k)

        await asyncio.gather(*(worker() for _ in range(window)))

    await asyncio.gather(*(stream(k) for k in range(streams)))


async def _pipeline(engine: Engine, inputs: Inputs, streams: int, budget: Budget, collected: Collected) -> None:
    """Decode through results with streamcore.Pipeline; each stream replays its video until
    the budget is spent."""
    async with Pipeline(engine=engine, monitor_loop=False) as pipeline:

        async def play(k: int) -> None:
            path = inputs.for_stream(k).path
            replay = 0
            while not budget.done(collected.frames):
                stream = pipeline.add_source(path, name=f"stream{k}.{replay}")
                replay += 1
                async for record in stream.results():
                    if record.kind == "result" and record.result is not None:
                        collected.add(record.result, record.latency_ms or 0.0, k)
                    elif record.kind == "error":
                        collected.errors += 1
                    if budget.done(collected.frames):
                        break
                collected.dropped[k] += int(stream.stats()["dropped"])
                await pipeline.remove_source(stream)

        await asyncio.gather(*(play(k) for k in range(streams)))


def _device_usage(before: Dict[str, Dict[str, Any]], after: List[Dict[str, Any]], wall: float) -> List[Dict[str, Any]]:
    out = []
    for d in after:
        b = before.get(d["name"], {})
        busy = float(d["busy_s"]) - float(b.get("busy_s", 0.0))
        out.append({
            "name": d["name"],
            "backend": str(d.get("backend", "tflite")),
            "kind": d["kind"],
            "simulated": bool(d["simulated"]),
            "frames": int(d["frames"]) - int(b.get("frames", 0)),
            "busy_fraction": round(min(1.0, busy / wall), 3) if wall > 0 else 0.0,
        })
    return out
