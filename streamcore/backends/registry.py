"""The backends streamcore knows, in preference order, and the spec parser that asks them.

Backends register themselves from ``backends/__init__.py`` (one line each)."""

from __future__ import annotations

import dataclasses
import threading
from typing import Dict, List, Optional

from ..errors import BackendUnavailableError, DeviceSpecError
from .base import Backend
from .specs import DeviceRequest, DeviceSpec, split_specs

__all__ = ["register", "backends", "get", "preferred_cpu", "parse_devices", "parse_one", "spec_help"]

_BACKENDS: Dict[str, Backend] = {}
# `cpu` means the first of these that is installed: tflite also serves the Edge TPU, and its
# XNNPACK is as fast as LiteRT's on the CPUs measured.
CPU_PREFERENCE = ("tflite", "litert", "openvino")
_lock = threading.Lock()
_preferred: Optional[str] = None


def register(backend: Backend) -> None:
    _BACKENDS[backend.name] = backend


def backends() -> List[Backend]:
    return list(_BACKENDS.values())


def get(name: str) -> Backend:
    try:
        return _BACKENDS[name]
    except KeyError:
        raise DeviceSpecError(f"no backend {name!r}; streamcore has {', '.join(_BACKENDS)}") from None


def preferred_cpu() -> str:
    """The CPU backend that ``cpu`` / ``cpu:N`` stands for on this machine."""
    global _preferred
    with _lock:
        if _preferred is None:
            reasons = []
            for name in CPU_PREFERENCE:
                backend = _BACKENDS.get(name)
                why = backend.unavailable() if backend is not None else "not registered"
                if why is None:
                    _preferred = name
                    break
                reasons.append(f"{name}: {why}")
            else:
                raise BackendUnavailableError(
                    "no CPU backend is installed (" + "; ".join(reasons) + "); install one: "
                    "pip install 'ai-edge-litert>=2.3,<2.4' (Python 3.10+) or tflite-runtime==2.14.0 "
                    "(Python <=3.11)"
                )
        return _preferred


def spec_help() -> str:
    forms = "; ".join(f"{b.name}: {b.spec_forms}" for b in _BACKENDS.values())
    return f"use cpu or cpu:N (the preferred CPU backend), or one backend's forms ({forms}), separated by commas"


def parse_one(spec: str) -> DeviceRequest:
    s = spec.strip().lower()
    if s == "cpu" or (s.startswith("cpu:") and s[4:].isdigit()):
        parsed = get(preferred_cpu()).parse(f"{preferred_cpu()}:{s}")
        return dataclasses.replace(parsed or _unknown(spec), generic=True)
    for backend in _BACKENDS.values():
        found = backend.parse(spec.strip())
        if found is not None:
            return found
    return _unknown(spec)


def _unknown(spec: str) -> DeviceRequest:
    raise DeviceSpecError(f"invalid device spec {spec!r}; {spec_help()}")


def parse_devices(spec: DeviceSpec) -> List[DeviceRequest]:
    return [parse_one(p) for p in split_specs(spec, spec_help())]
