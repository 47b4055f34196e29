"""Shared helpers for the benchmark scripts: data paths, timing, table printing."""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent


def shared_data() -> Optional[Path]:
    env = os.environ.get("STREAMCORE_TEST_DATA")
    path = Path(env) if env else ROOT.parent / "shared" / "data"
    return path if (path / "models").is_dir() else None


def mobilenet_path() -> Path:
    """The real MobileNet V2 when the shared data is here, else the synthetic one (same cost)."""
    data = shared_data()
    if data is not None:
        return data / "models" / "mobilenet_v2_1.0_224_quant.tflite"
    from streamcore import models

    return models.cached_path("mobilenet_v2", models.mobilenet_v2)


def median_time(fn: Callable[[], object], repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[k]


def print_table(rows: List[Dict[str, object]]) -> None:
    if not rows:
        return
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(_fmt(r.get(k))) for r in rows)) for k in keys}
    print("  ".join(k.ljust(widths[k]) for k in keys))
    for r in rows:
        print("  ".join(_fmt(r.get(k)).ljust(widths[k]) for k in keys))


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
    return str(v)


# -- per-thread CPU clocks ------------------------------------------------------------------

def thread_cpu() -> Dict[int, Tuple[str, float]]:
    """tid -> (thread name, CPU seconds) for this process's threads, from schedstat's
    nanosecond run time (stat's ticks are 10 ms)."""
    out: Dict[int, Tuple[str, float]] = {}
    for tid_s in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid_s}/schedstat") as f:
                ns = int(f.read().split()[0])
            with open(f"/proc/self/task/{tid_s}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        out[int(tid_s)] = (comm, ns * 1e-9)
    return out


class CpuSampler:
    """Samples per-thread CPU time (threads exit before the end) and sums it per role. A
    thread of its own samples every `every` seconds: reading /proc for every thread takes
    milliseconds, which on the event loop would show up as loop lag."""

    def __init__(self, every: float = 0.1) -> None:
        self.last: Dict[int, Tuple[str, float]] = {}
        self.first = thread_cpu()
        self.roles: Dict[int, str] = {}
        self._every = every
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def restart(self) -> None:
        """Counts from now."""
        self.first = thread_cpu()

    def start(self, watch: Callable[[], Dict[int, str]]) -> None:
        """Samples in the background; `watch()` names roles of threads as they appear."""
        def run() -> None:
            with self._lock:  # this thread's own reading of /proc is the measurement's cost
                self.roles[threading.get_native_id()] = "sampler"
            while not self._stop.wait(self._every):
                self.sample()
                with self._lock:
                    self.roles.update(watch())

        self._thread = threading.Thread(target=run, name="bench-cpu-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def sample(self) -> None:
        now = thread_cpu()
        with self._lock:
            self.last.update(now)

    def by_role(self, role_of: Callable[[int, str], str]) -> Dict[str, float]:
        totals: Dict[str, float] = {}
        for tid, (comm, cpu) in self.last.items():
            spent = cpu - self.first.get(tid, (comm, 0.0))[1]
            role = self.roles.get(tid) or role_of(tid, comm)
            totals[role] = totals.get(role, 0.0) + spent
        return totals
