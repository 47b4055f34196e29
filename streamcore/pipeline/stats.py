"""Small meters for pipeline stats: event rates over a sliding window, latency percentiles,
and an event-loop lag monitor."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Callable, Deque, Dict, Optional, Tuple

import numpy as np

__all__ = ["Rate", "Samples", "LoopLagMonitor"]


class Rate:
    """Events per second over the last `window` seconds, counted in 50 ms buckets: bounded
    memory at any rate, and an add within the open bucket is one comparison."""

    _BUCKET = 0.05

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self.total = 0
        self._events: Deque[Tuple[float, int]] = deque()  # closed buckets: (start, count)
        self._open_at = -1e18  # the open bucket's start
        self._open = 0
        self._started = time.monotonic()

    def add(self, n: int = 1, now: Optional[float] = None) -> None:
        now = time.monotonic() if now is None else now
        self.total += n
        if now - self._open_at < self._BUCKET:
            self._open += n
            return
        if self._open:
            self._events.append((self._open_at, self._open))
        self._open_at, self._open = now, n
        self._trim(now)

    def per_second(self, now: Optional[float] = None) -> float:
        now = time.monotonic() if now is None else now
        self._trim(now)
        span = min(self.window, now - self._started)
        if span <= 0:
            return 0.0
        recent = self._open if now - self._open_at <= self.window else 0
        return (sum(n for _, n in self._events) + recent) / span

    def _trim(self, now: float) -> None:
        while self._events and now - self._events[0][0] > self.window:
            self._events.popleft()


class Samples:
    """The last `size` values, for percentiles."""

    add: Callable[[float], None]  # adds a value: the deque's own append (per frame, no Python frame)

    def __init__(self, size: int = 1024) -> None:
        self._values: Deque[float] = deque(maxlen=size)
        self.add = self._values.append

    def __len__(self) -> int:
        return len(self._values)

    def percentile(self, q: float) -> Optional[float]:
        if not self._values:
            return None
        return float(np.percentile(np.fromiter(self._values, float, len(self._values)), q))

    def mean(self) -> Optional[float]:
        return sum(self._values) / len(self._values) if self._values else None

    def max(self) -> Optional[float]:
        return max(self._values) if self._values else None


class LoopLagMonitor:
    """Measures how late the event loop wakes a sleeper that asked for `interval` seconds.
    Each wake-up costs the loop a timer, a task step and often a context switch (about 50 us
    on a busy 2-core host): at 20 ms that is 50 a second, a quarter of what 5 ms cost."""

    def __init__(self, interval: float = 0.02, size: int = 4096) -> None:
        self.interval = interval
        self.lags_ms = Samples(size)
        self._task: Optional["asyncio.Task[None]"] = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sc-loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.lags_ms.add(max(0.0, loop.time() - due) * 1000.0)

    def summary(self) -> Dict[str, Optional[float]]:
        return {
            "p50_ms": _round(self.lags_ms.percentile(50)),
            "p99_ms": _round(self.lags_ms.percentile(99)),
            "max_ms": _round(self.lags_ms.max()),
        }


def _round(value: Optional[float], digits: int = 3) -> Optional[float]:
    return None if value is None else round(value, digits)
