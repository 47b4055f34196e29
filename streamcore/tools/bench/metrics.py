"""Measurements: latency summaries, and host CPU and memory sampled with psutil."""

from __future__ import annotations

import resource
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import psutil

__all__ = ["summarize", "mean_or_none", "ResourceSampler", "ResourceUsage", "Budget", "process_peak_rss_mb"]

SAMPLE_INTERVAL_S = 0.1
_MB = 1024.0 * 1024.0


def summarize(values_ms: Sequence[float]) -> Dict[str, Optional[float]]:
    """min, mean, p50, p90, p99, max (ms) and count; None values when there are none."""
    if not values_ms:
        return {"min": None, "mean": None, "p50": None, "p90": None, "p99": None, "max": None, "count": 0}
    a = np.asarray(values_ms, dtype=np.float64)
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {
        "min": round(float(a.min()), 4),
        "mean": round(float(a.mean()), 4),
        "p50": round(float(p50), 4),
        "p90": round(float(p90), 4),
        "p99": round(float(p99), 4),
        "max": round(float(a.max()), 4),
        "count": int(a.size),
    }


def mean_or_none(values: Sequence[float]) -> Optional[float]:
    return round(float(np.mean(values)), 4) if len(values) else None


def process_peak_rss_mb() -> float:
    """The process's peak resident set since it started (getrusage)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / _MB  # KiB on Linux, bytes on macOS


@dataclass
class ResourceUsage:
    wall_s: float
    cpu_s: float  # user + system, every thread of this process
    process_percent: float  # 100 = one core busy
    process_percent_max: float  # highest of the psutil samples
    host_percent: float  # every core of the machine, 0-100 (includes other processes)
    peak_rss_mb: float


@dataclass
class ResourceSampler:
    """Samples this process's CPU and RSS every SAMPLE_INTERVAL_S on a thread between
    start() and stop(). CPU time is the exact delta of psutil's cpu_times()."""

    _process: psutil.Process = field(default_factory=psutil.Process)
    _samples: List[float] = field(default_factory=list)
    _peak_rss: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: Optional[threading.Thread] = None
    _t0: float = 0.0
    _cpu0: float = 0.0

    def start(self) -> None:
        self._stop.clear()
        self._samples = []
        self._peak_rss = self._process.memory_info().rss
        self._process.cpu_percent(None)
        psutil.cpu_percent(None)
        times = self._process.cpu_times()
        self._cpu0 = times.user + times.system
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="sc-bench-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self._samples.append(self._process.cpu_percent(None))
            self._peak_rss = max(self._peak_rss, self._process.memory_info().rss)

    def stop(self) -> ResourceUsage:
        wall = time.perf_counter() - self._t0
        times = self._process.cpu_times()
        cpu = times.user + times.system - self._cpu0
        host = psutil.cpu_percent(None)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._peak_rss = max(self._peak_rss, self._process.memory_info().rss)
        return ResourceUsage(
            wall_s=wall,
            cpu_s=cpu,
            process_percent=100.0 * cpu / wall if wall > 0 else 0.0,
            process_percent_max=max(self._samples, default=0.0),
            host_percent=float(host),
            peak_rss_mb=self._peak_rss / _MB,
        )


@dataclass
class Budget:
    """When a measurement stops: after `frames` frames if given, else after `seconds`
    (both given: whichever comes first)."""

    seconds: Optional[float]
    frames: Optional[int]
    started: float = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def done(self, frames: int) -> bool:
        if self.frames is not None and frames >= self.frames:
            return True
        return self.seconds is not None and self.elapsed() >= self.seconds

    def fraction(self, frames: int) -> float:
        parts = []
        if self.frames:
            parts.append(frames / self.frames)
        if self.seconds:
            parts.append(self.elapsed() / self.seconds)
        return min(1.0, max(parts, default=0.0))
