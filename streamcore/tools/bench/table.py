"""The readable report: a summary table, then per-stage times, devices and streams."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

__all__ = ["render"]


def _num(value: Optional[float], digits: int = 2) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.{digits}f}"


def _ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _grid(header: Sequence[str], rows: List[List[str]]) -> List[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]


def render(report: Dict[str, Any]) -> str:
    env, cfg, results = report["environment"], report["config"], report["results"]
    out: List[str] = []
    tpu = env["libedgetpu"]
    where = {"cpu": "the CPU", "tpu": "Edge TPUs", "sim": "SIMULATED Edge TPUs", "mixed": "the CPU and Edge TPUs"}
    target = where[cfg["target"]]
    if cfg["target"] == "mixed" and any(r["simulated"] for r in results):
        target = "the CPU and " + ("Edge TPUs (some SIMULATED)" if any(r["kind"] == "tpu" for r in results)
                                   else "SIMULATED Edge TPUs")
    out.append(f"streamcore bench on {target}: {env['cpu_model']}, {env['cores']} cores, Python {env['python']}")
    backends = [f"{b['backend']} {b['version']}" for b in env.get("backends", [])
                if b["available"] and b["backend"] != "edgetpu"]
    if backends:
        out.append(f"backends: {', '.join(backends)}; cpu/cpu:N ran on {env.get('cpu_backend') or 'none'}")
    out.append("libedgetpu: " + (f"{tpu['library']} ({tpu['version']})" if tpu["available"] else "not installed"))
    if env["simulator"] is not None:
        out.append(f"simulator: {env['simulator']['version']} -- rows marked [SIMULATED] ran on no TPU hardware")
    models = sorted({f"{r['model']['name']} ({r['model']['origin']})" for r in results})
    out.append("model: " + "; ".join(models))
    source = "built-in synthetic clip" if cfg["synthetic_clip"] else f"{len(cfg['videos'])} video(s)"
    length = f"{cfg['frames']} frames" if cfg["frames"] else f"{cfg['seconds']:g} s"
    out.append(f"input: {source}; {length} per measurement after {cfg['warmup']} warm-up inferences")
    out.append("")
    header = ["config", "mode", "streams", "load s", "first ms", "min", "mean", "p50", "p90", "p99", "max",
              "FPS", "vs first", "vs base", "CPU %", "CPU ms/frame", "RSS MB"]
    rows = []
    for r in results:
        lat = r["latency_ms"]
        rows.append([r["label"], r["mode"], str(r["streams"]), _num(r["load_s"]), _num(r["first_inference_ms"]),
                     *(_num(lat[k]) for k in ("min", "mean", "p50", "p90", "p99", "max")),
                     _num(r["fps"], 1), _ratio(r["ratio_vs_first"]), _ratio(r["speedup_vs_baseline"]),
                     _num(r["cpu"]["process_percent"], 0), _num(r["cpu"]["cpu_ms_per_frame"]),
                     _num(r["peak_rss_mb"], 0)])
    out.append("latency ms per frame (latency: one request at a time; throughput: submit to result with the "
               "engine full; pipeline: decoded to result)")
    out += _grid(header, rows)
    out.append("")
    out.append("per-stage mean ms per frame")
    stage_rows = [[r["label"], r["mode"], *(_num(r["stages_ms"][k], 3) for k in
                                           ("decode", "preprocess", "queue", "invoke", "postprocess"))]
                  for r in results]
    out += _grid(["config", "mode", "decode", "preprocess", "queue", "invoke", "postprocess"], stage_rows)
    out.append("")
    out.append("devices (frames, busy fraction) and streams (FPS, dropped frames)")
    for r in results:
        devices = ", ".join(f"{d['name']}{' (sim)' if d['simulated'] else ''} {d['frames']} {d['busy_fraction']:.0%}"
                            for d in r["devices"])
        streams = ", ".join(f"{s['fps']:.1f}/{s['dropped']}" for s in r["streams_detail"])
        out.append(f"  {r['label']} {r['mode']}: devices {devices}; streams {streams}")
    notes = list(report["notes"])
    for r in results:
        notes += [n if n in report["notes"] else f"{r['label']}: {n}" for n in r["notes"]]
        if r["baseline_variant"]:
            notes.append(f"{r['label']}: {r['baseline_variant']}")
    if notes:
        out.append("")
        out += [f"note: {n}" for n in dict.fromkeys(notes)]
    out.append(f"peak RSS of the process: {report['peak_rss_mb']:.0f} MB")
    return "\n".join(out)
