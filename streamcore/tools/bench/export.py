"""Machine-readable outputs: JSON, CSV (one row per result) and a PNG of bar charts."""

from __future__ import annotations

import csv
import io
from typing import Any, Dict, List

from ...errors import InputError
from ...jsonsafe import dumps

__all__ = ["to_json", "to_csv", "write_plot", "CSV_COLUMNS", "check_plot_available"]

CSV_COLUMNS = [
    "config", "label", "kind", "simulated", "baseline", "mode", "streams", "model", "load_s",
    "first_inference_ms", "latency_min_ms", "latency_mean_ms", "latency_p50_ms", "latency_p90_ms",
    "latency_p99_ms", "latency_max_ms", "frames", "seconds", "fps", "ratio_vs_first", "speedup_vs_baseline",
    "decode_ms", "preprocess_ms", "queue_ms", "invoke_ms", "postprocess_ms", "cpu_percent",
    "cpu_ms_per_frame", "host_cpu_percent", "peak_rss_mb", "dropped",
]


def to_json(report: Dict[str, Any]) -> str:
    return dumps(report, indent=2)


def _row(r: Dict[str, Any]) -> Dict[str, Any]:
    lat, stages, cpu = r["latency_ms"], r["stages_ms"], r["cpu"]
    return {
        "config": r["config"], "label": r["label"], "kind": r["kind"], "simulated": r["simulated"],
        "baseline": r["baseline"], "mode": r["mode"], "streams": r["streams"], "model": r["model"]["name"],
        "load_s": r["load_s"], "first_inference_ms": r["first_inference_ms"],
        **{f"latency_{k}_ms": lat[k] for k in ("min", "mean", "p50", "p90", "p99", "max")},
        "frames": r["frames"], "seconds": r["seconds"], "fps": r["fps"], "ratio_vs_first": r["ratio_vs_first"],
        "speedup_vs_baseline": r["speedup_vs_baseline"],
        **{f"{k}_ms": stages[k] for k in ("decode", "preprocess", "queue", "invoke", "postprocess")},
        "cpu_percent": cpu["process_percent"], "cpu_ms_per_frame": cpu["cpu_ms_per_frame"],
        "host_cpu_percent": cpu["host_percent"], "peak_rss_mb": r["peak_rss_mb"],
        "dropped": sum(s["dropped"] for s in r["streams_detail"]),
    }


def to_csv(report: Dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in report["results"]:
        writer.writerow(_row(r))
    return buffer.getvalue()


def check_plot_available() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError(
            "--plot needs matplotlib, which is not installed; install it with "
            "pip install 'streamcore[plot]' (or pip install matplotlib)"
        ) from None


def write_plot(report: Dict[str, Any], path: str) -> None:
    """FPS and latency (p50 bar, p90-p99 whisker) per configuration, one panel pair per mode."""
    check_plot_available()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes: List[str] = list(dict.fromkeys(r["mode"] for r in report["results"]))
    fig, axes = plt.subplots(len(modes), 2, figsize=(12, 3.2 * len(modes) + 0.8), squeeze=False)
    for row, mode in enumerate(modes):
        rs = [r for r in report["results"] if r["mode"] == mode]
        labels = [r["label"].replace(" [SIMULATED]", "\n[SIMULATED]") for r in rs]
        colors = ["#9e9e9e" if r["baseline"] else "#f4a261" if r["simulated"] else
                  "#2a9d8f" if r["kind"] == "tpu" else "#457b9d" for r in rs]
        fps_ax, lat_ax = axes[row]
        bars = fps_ax.bar(range(len(rs)), [r["fps"] for r in rs], color=colors)
        fps_ax.bar_label(bars, fmt="%.0f", fontsize=8)
        fps_ax.set_title(f"{mode}: throughput (FPS, higher is better)", fontsize=10)
        p50 = [r["latency_ms"]["p50"] or 0.0 for r in rs]
        high = [max(0.0, (r["latency_ms"]["p99"] or p) - p) for p, r in zip(p50, rs)]
        bars = lat_ax.bar(range(len(rs)), p50, color=colors, yerr=[[0.0] * len(rs), high], capsize=4)
        lat_ax.bar_label(bars, fmt="%.1f", fontsize=8)
        lat_ax.set_title(f"{mode}: latency p50 ms (whisker: p99; lower is better)", fontsize=10)
        for ax in (fps_ax, lat_ax):
            ax.set_xticks(range(len(rs)), labels, fontsize=8)
            ax.grid(axis="y", alpha=0.3)
    env = report["environment"]
    models = ", ".join(sorted({r["model"]["name"] for r in report["results"]}))
    fig.suptitle(f"streamcore bench: {models} on {env['cpu_model']} ({env['cores']} cores); "
                 "grey = hand-written baseline, orange = simulated TPU", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
