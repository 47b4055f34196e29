"""The JSON Schema (draft 2020-12 subset) of `python -m streamcore bench --json`."""

from __future__ import annotations

from typing import Any, Dict

__all__ = ["SCHEMA_ID", "SCHEMA"]

SCHEMA_ID = "streamcore.bench/1"

_NUM = {"type": "number"}
_NUM_OR_NULL = {"type": ["number", "null"]}
_STR_OR_NULL = {"type": ["string", "null"]}
_KIND = {"enum": ["cpu", "tpu", "sim"]}
_MODE = {"enum": ["latency", "throughput", "pipeline"]}


def _object(properties: Dict[str, Any]) -> Dict[str, Any]:
    return {"type": "object", "required": sorted(properties), "properties": properties}


# What a device is, whatever its backend (OpenVINO adds gpu, npu and auto).
_DEVICE_KIND = {"enum": ["cpu", "tpu", "sim", "gpu", "npu", "auto"]}

_DEVICE_USAGE = _object({
    "name": {"type": "string"},
    "backend": {"type": "string"},
    "kind": _DEVICE_KIND,
    "simulated": {"type": "boolean"},
    "frames": {"type": "integer", "minimum": 0},
    "busy_fraction": {"type": "number", "minimum": 0, "maximum": 1},
})

_LATENCY = _object({
    **{k: _NUM_OR_NULL for k in ("min", "mean", "p50", "p90", "p99", "max")},
    "count": {"type": "integer", "minimum": 0},
})

_RESULT = _object({
    "config": {"type": "string"},
    "label": {"type": "string"},
    "kind": _KIND,
    "simulated": {"type": "boolean"},
    "baseline": {"type": "boolean"},
    "baseline_variant": _STR_OR_NULL,
    "mode": _MODE,
    "streams": {"type": "integer", "minimum": 1},
    "model": _object({
        "name": {"type": "string"},
        "path": _STR_OR_NULL,
        "origin": {"type": "string"},
        "edgetpu": {"type": "boolean"},
    }),
    "load_s": _NUM_OR_NULL,
    "first_inference_ms": _NUM_OR_NULL,
    "latency_ms": _LATENCY,
    "frames": {"type": "integer", "minimum": 0},
    "seconds": _NUM,
    "fps": {"type": "number", "minimum": 0},
    "speedup_vs_baseline": _NUM_OR_NULL,
    "ratio_vs_first": _NUM_OR_NULL,
    "stages_ms": _object({k: _NUM_OR_NULL for k in ("decode", "preprocess", "queue", "invoke", "postprocess")}),
    "cpu": _object({
        "process_percent": _NUM,
        "process_percent_max": _NUM,
        "host_percent": _NUM,
        "cpu_seconds": _NUM,
        "cpu_ms_per_frame": _NUM_OR_NULL,
    }),
    "peak_rss_mb": _NUM,
    "devices": {"type": "array", "items": _DEVICE_USAGE},
    "streams_detail": {"type": "array", "items": _object({
        "name": {"type": "string"},
        "frames": {"type": "integer", "minimum": 0},
        "fps": _NUM,
        "dropped": {"type": "integer", "minimum": 0},
    })},
    "errors": {"type": "integer", "minimum": 0},
    "notes": {"type": "array", "items": {"type": "string"}},
})

SCHEMA: Dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "python -m streamcore bench --json",
    **_object({
        "schema": {"const": SCHEMA_ID},
        "config": _object({
            "model": _STR_OR_NULL,
            "labels": _STR_OR_NULL,
            "videos": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "synthetic_clip": {"type": "boolean"},
            "streams": {"type": "integer", "minimum": 1},
            "devices": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "modes": {"type": "array", "items": _MODE, "minItems": 1},
            "frames": {"type": ["integer", "null"]},
            "seconds": _NUM_OR_NULL,
            "warmup": {"type": "integer", "minimum": 0},
            "baseline": {"type": "boolean"},
            "target": {"enum": ["cpu", "tpu", "sim", "mixed"]},
        }),
        "environment": _object({
            "cpu_model": {"type": "string"},
            "cores": {"type": "integer", "minimum": 1},
            "usable_cores": {"type": "integer", "minimum": 1},
            "machine": {"type": "string"},
            "os": {"type": "string"},
            "python": {"type": "string"},
            "streamcore": {"type": "string"},
            "tflite_runtime": _STR_OR_NULL,
            "numpy": _STR_OR_NULL,
            "av": _STR_OR_NULL,
            "libedgetpu": _object({
                "available": {"type": "boolean"},
                "library": _STR_OR_NULL,
                "version": _STR_OR_NULL,
                "error": _STR_OR_NULL,
                "simulated": {"const": False},
            }),
            "simulator": {"oneOf": [{"type": "null"}, _object({
                "library": _STR_OR_NULL,
                "version": _STR_OR_NULL,
                "simulated": {"const": True},
            })]},
            "backends": {"type": "array", "items": _object({
                "backend": {"type": "string"},
                "available": {"type": "boolean"},
                "library": _STR_OR_NULL,
                "version": _STR_OR_NULL,
                "reason": _STR_OR_NULL,
            })},
            "cpu_backend": _STR_OR_NULL,
            "devices": {"type": "array", "items": _object({
                "name": {"type": "string"},
                "kind": _DEVICE_KIND,
                "path": _STR_OR_NULL,
                "simulated": {"type": "boolean"},
            })},
        }),
        "results": {"type": "array", "items": _RESULT, "minItems": 1},
        "notes": {"type": "array", "items": {"type": "string"}},
        "peak_rss_mb": _NUM,
    }),
}
