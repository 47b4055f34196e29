"""Shared helpers for the benchmark scripts: data paths, timing, table printing."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

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
