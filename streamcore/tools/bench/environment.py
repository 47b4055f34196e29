"""The machine a bench ran on: CPU, Python, library versions, every backend (library path and
version), the Edge TPU runtime and devices."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any, Dict, List, Optional

from ... import __version__
from ...backends import registry
from ...backends.edgetpu import list_devices
from ...backends.specs import default_cpu_count
from ...errors import StreamcoreError
from .plan import Plan

__all__ = ["describe_environment", "cpu_model"]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> Optional[str]:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def describe_environment(plan: Plan, used_devices: List[Dict[str, Any]]) -> Dict[str, Any]:
    hw = plan.hardware
    simulator: Optional[Dict[str, Any]] = None
    if any(c.simulated for c in plan.configs):
        try:
            info = list_devices(_sim_runtime_any())
            simulator = {"library": info["library"], "version": info["version"], "simulated": True}
        except StreamcoreError as e:
            simulator = {"library": None, "version": str(e), "simulated": True}
    devices: List[Dict[str, Any]] = [
        {"name": f"{t}{i}", "kind": "tpu", "path": p, "simulated": False} for i, (t, p) in enumerate(hw.tpus)
    ]
    seen = {d["name"] for d in devices}
    for d in used_devices:
        if d["name"] not in seen:
            seen.add(d["name"])
            devices.append({"name": d["name"], "kind": d["kind"], "path": None, "simulated": bool(d["simulated"])})
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count() or 1,
        "usable_cores": default_cpu_count(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "streamcore": __version__,
        "tflite_runtime": _version("tflite-runtime"),
        "numpy": _version("numpy"),
        "av": _version("av"),
        "libedgetpu": {"available": hw.library is not None, "library": hw.library, "version": hw.version,
                       "error": hw.error, "simulated": False},
        "simulator": simulator,
        "backends": [registry.get(b.name).environment() for b in registry.backends()],
        "cpu_backend": _preferred_cpu(),
        "devices": devices,
    }


def _preferred_cpu() -> Optional[str]:
    try:
        return registry.preferred_cpu()
    except StreamcoreError:
        return None


def _sim_runtime_any() -> Any:
    from ...backends.edgetpu import load_runtime
    from ...backends.sim import sim_library_path

    return load_runtime(sim_library_path())  # already configured by the run; no reconfiguration
