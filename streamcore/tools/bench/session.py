"""A whole bench run: plan, inputs, every configuration in every mode (and the baseline),
then ratios and the report object (config, environment, results)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ...adapters import read_labels
from ...errors import InputError
from ...sources.urls import redact
from .baseline import run_baseline
from .clip import check_videos, decode_frames, synthetic_clip
from .environment import describe_environment
from .metrics import process_peak_rss_mb
from .plan import MODES, DeviceConfig, make_plan
from .progress import Progress
from .runner import Inputs, Settings, run_config
from .schema import SCHEMA_ID

__all__ = ["BenchOptions", "run_bench", "DEFAULT_SECONDS", "DEFAULT_WARMUP"]

DEFAULT_SECONDS = 5.0
DEFAULT_WARMUP = 10
PREDECODED_FRAMES = 64


@dataclass
class BenchOptions:
    model: Optional[str] = None
    labels: Optional[str] = None
    videos: List[str] = field(default_factory=list)
    streams: int = 1
    devices: List[str] = field(default_factory=list)
    frames: Optional[int] = None
    seconds: Optional[float] = None
    warmup: int = DEFAULT_WARMUP
    modes: List[str] = field(default_factory=list)
    baseline: bool = False


def _validate(o: BenchOptions) -> List[str]:
    if o.streams < 1:
        raise InputError(f"--streams {o.streams}: it must be at least 1")
    if o.frames is not None and o.frames < 1:
        raise InputError(f"--frames {o.frames}: it must be at least 1")
    if o.seconds is not None and o.seconds <= 0:
        raise InputError(f"--seconds {o.seconds:g}: it must be more than 0")
    if o.warmup < 0:
        raise InputError(f"--warmup {o.warmup}: it must be 0 or more")
    modes = []
    for item in o.modes or list(MODES):
        for mode in item.split(","):
            mode = mode.strip()
            if mode not in MODES:
                raise InputError(f"--mode {mode!r}: use {', '.join(MODES)} (or several, comma-separated)")
            if mode not in modes:
                modes.append(mode)
    check_videos(o.videos)
    return modes


def run_bench(options: BenchOptions, progress: Optional[Progress] = None) -> Dict[str, Any]:
    modes = _validate(options)
    progress = progress or Progress(0, enabled=False)
    labels = read_labels(options.labels) if options.labels else None
    plan = make_plan(options.model, options.devices)
    _announce(plan, progress)
    paths = list(options.videos) or [str(synthetic_clip())]
    inputs = Inputs([decode_frames(p, PREDECODED_FRAMES) for p in paths], synthetic=not options.videos)
    if not options.videos:
        progress.note(f"input: built-in synthetic clip {paths[0]} ({inputs.videos[0].size})")
    seconds = options.seconds if options.seconds is not None or options.frames is not None else DEFAULT_SECONDS
    settings = Settings(options.streams, seconds, options.frames, options.warmup, labels)
    if options.streams > 1 and "latency" in modes:
        progress.note("note: latency mode runs one request at a time; --streams applies to throughput and pipeline")

    steps: List[Tuple[str, Optional[DeviceConfig], DeviceConfig, str]] = []
    baselines: Dict[Tuple[str, Optional[float], str], DeviceConfig] = {}
    for mode in modes:
        if options.baseline:
            for config in plan.configs:
                baselines.setdefault((config.family, config.sim_latency_ms, mode), config)
        for config in plan.configs:
            steps.append(("engine", None, config, mode))
    steps += [("baseline", None, config, key[2]) for key, config in baselines.items()]
    progress.total = len(steps)

    results: List[Dict[str, Any]] = []
    quiet = logging.getLogger("streamcore.edgetpu")
    for what, _, config, mode in steps:
        progress.begin(f"{'baseline ' if what == 'baseline' else ''}{config.label} {mode}")
        previous = quiet.level
        quiet.setLevel(logging.ERROR)  # the no-edgetpu-custom-op warning is a note of the result
        try:
            if what == "engine":
                record = asyncio.run(run_config(config, mode, inputs, settings, progress))
            else:
                record = run_baseline(config, mode, inputs, settings, progress)
        finally:
            quiet.setLevel(previous)
        p50 = record["latency_ms"]["p50"]
        progress.end(f"{record['fps']:.1f} FPS, p50 {p50 if p50 is None else round(p50, 2)} ms")
        results.append(record)
    _ratios(results)
    used = [d for r in results for d in r["devices"]]
    return {
        "schema": SCHEMA_ID,
        "config": {
            "model": options.model,
            "labels": options.labels,
            "videos": [redact(p) for p in paths],
            "synthetic_clip": inputs.synthetic,
            "streams": options.streams,
            "devices": [c.spec for c in plan.configs],
            "modes": modes,
            "frames": options.frames,
            "seconds": seconds,
            "warmup": options.warmup,
            "baseline": options.baseline,
            "target": plan.target,
        },
        "environment": describe_environment(plan, used),
        "results": results,
        "notes": _notes(plan, modes),
        "peak_rss_mb": round(process_peak_rss_mb(), 1),
    }


def _announce(plan: Any, progress: Progress) -> None:
    hw = plan.hardware
    if hw.tpus:
        where = f"{len(hw.tpus)} Edge TPU(s) ({', '.join(t for t, _ in hw.tpus)}), libedgetpu {hw.version}"
    elif hw.library is not None:
        where = "the CPU: libedgetpu is installed but no Edge TPU is plugged in"
    else:
        where = "the CPU: no Edge TPU runtime (libedgetpu) on this machine"
    progress.note(f"streamcore bench: found {where}")
    progress.note(f"configurations: {', '.join(c.label for c in plan.configs)}")
    if any(c.simulated for c in plan.configs):
        progress.note("sim = streamcore's SIMULATED libedgetpu: no TPU hardware, a fixed sleep per invoke")
    for note in _notes(plan, []):
        progress.note(f"note: {note}")


def _notes(plan: Any, modes: List[str]) -> List[str]:
    notes = plan.notes + [n for c in plan.configs for n in c.notes]
    if "pipeline" in modes:
        notes.append("pipeline decode ms: a one-thread decode-only pass over the same videos before the runs")
    return list(dict.fromkeys(notes))


def _ratios(results: List[Dict[str, Any]]) -> None:
    """speedup_vs_baseline: FPS over the baseline loop of the same family (kind, or the CPU
    backend) and mode; ratio_vs_first: FPS over the first configuration of the same mode."""
    first: Dict[str, float] = {}
    base: Dict[Tuple[str, str], float] = {}
    for r in results:
        if r["baseline"]:
            base[(str(r["config"]).split(":", 1)[1], r["mode"])] = r["fps"]
        elif r["mode"] not in first:
            first[r["mode"]] = r["fps"]
    for r in results:
        if r["baseline"]:
            continue
        if first.get(r["mode"]):
            r["ratio_vs_first"] = round(r["fps"] / first[r["mode"]], 3)
        backend = r["devices"][0].get("backend", "tflite") if r["devices"] else "tflite"
        family = backend if r["kind"] == "cpu" and backend != "tflite" else r["kind"]
        b = base.get((family, r["mode"]))
        if b:
            r["speedup_vs_baseline"] = round(r["fps"] / b, 3)
