"""Device specs: which devices an engine creates and where they run.

Comma-separated lists are allowed (``"usb:0,openvino:GPU"``). Each backend parses its own
forms (``backends/registry.py`` asks each in turn):

- ``cpu`` / ``cpu:N``: N CPU devices, one thread each, on the preferred CPU backend installed
  (``tflite``, else ``litert``, else ``openvino``); ``tflite:cpu:N``, ``litert:cpu:N`` and
  ``openvino:CPU[:N]`` name the backend.
- Edge TPUs (``edgetpu`` backend): ``auto`` (every Edge TPU, else the CPU), ``usb`` / ``pci``
  (every TPU of that type), ``usb:N`` / ``pci:N`` / ``:N`` (the N-th TPU, pycoral style), a
  device path such as ``/dev/apex_0``, ``sim:N`` or ``sim:N@2.6ms`` (N simulated TPUs: the
  project's own libedgetpu simulator, never real hardware), and the names an engine reports
  (``usb0``, ``pci1``, ``sim2``) to pin a model to one device.
- OpenVINO devices: ``openvino:CPU``, ``openvino:GPU``, ``openvino:GPU.1``, ``openvino:NPU``,
  ``openvino:AUTO``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

from ..errors import DeviceSpecError

__all__ = ["DeviceRequest", "DeviceSpec", "split_specs", "positive", "parse_edgetpu", "default_cpu_count"]

DeviceSpec = Union[str, Sequence[str]]

EDGETPU_FORMS = "auto, usb, pci, usb:N, pci:N, :N, a device path, a device name (usb0, sim1), sim:N[@LATENCYms]"
_SIM = re.compile(r"^sim(?::(\d+))?(?:@(\d+(?:\.\d+)?)ms)?$")
_INDEXED = re.compile(r"^(usb|pci)?:(\d+)$")
_NAMED = re.compile(r"^(usb|pci|sim)(\d+)(?:@(\d+(?:\.\d+)?)ms)?$")


@dataclass(frozen=True)
class DeviceRequest:
    kind: str  # "cpu", "auto", "tpu", "sim", "openvino"
    count: int = 1  # cpu:N and sim:N
    tpu_type: Optional[str] = None  # "usb", "pci" or None for any
    index: Optional[int] = None  # the N-th TPU (of tpu_type)
    path: Optional[str] = None
    latency_ms: Optional[float] = None
    backend: Optional[str] = None  # the backend that parsed it
    target: Optional[str] = None  # a backend's own device name (OpenVINO's "GPU.1")
    generic: bool = False  # given as plain cpu / cpu:N: devices are named cpu0, cpu1, ...

    def __str__(self) -> str:
        if self.kind == "sim" and self.index is not None:
            return f"sim{self.index}"
        if self.generic:
            return f"cpu:{self.count}"
        if self.kind == "cpu" and self.backend not in (None, "tflite"):
            return f"{self.backend}:cpu:{self.count}"
        if self.kind == "openvino":
            return f"openvino:{self.target}" + (f":{self.count}" if self.count != 1 else "")
        if self.kind in ("cpu", "sim"):
            text = f"{self.kind}:{self.count}"
            return text + (f"@{self.latency_ms:g}ms" if self.latency_ms is not None else "")
        if self.kind == "auto":
            return "auto"
        if self.path is not None:
            return self.path
        return f"{self.tpu_type or ''}:{self.index}" if self.index is not None else str(self.tpu_type)


def split_specs(spec: DeviceSpec, help_text: str) -> List[str]:
    parts: List[str] = []
    for item in [spec] if isinstance(spec, str) else list(spec):
        if not isinstance(item, str):
            raise DeviceSpecError(f"invalid device spec {item!r}: expected a string; {help_text}")
        parts.extend(p.strip() for p in item.split(",") if p.strip())
    if not parts:
        raise DeviceSpecError(f"empty device spec; {help_text}")
    return parts


def positive(text: str, spec: str) -> int:
    n = int(text)
    if n < 1:
        raise DeviceSpecError(f"invalid device spec {spec!r}: the count must be at least 1")
    if n > 256:
        raise DeviceSpecError(f"invalid device spec {spec!r}: {n} devices is more than streamcore runs (256)")
    return n


def parse_edgetpu(spec: str) -> Optional[DeviceRequest]:
    """The Edge TPU forms (and ``auto``); None for anything else."""
    s = spec.strip().lower()
    if s == "auto":
        return DeviceRequest("auto", backend="edgetpu")
    if s in ("usb", "pci"):
        return DeviceRequest("tpu", tpu_type=s, backend="edgetpu")
    m = _SIM.match(s)
    if m:
        count = positive(m.group(1), spec) if m.group(1) else 1
        latency = float(m.group(2)) if m.group(2) else None
        return DeviceRequest("sim", count, latency_ms=latency, backend="edgetpu")
    m = _NAMED.match(s)
    if m:
        index = int(m.group(2))
        if m.group(1) == "sim":
            latency = float(m.group(3)) if m.group(3) else None
            return DeviceRequest("sim", index + 1, index=index, latency_ms=latency, backend="edgetpu")
        if m.group(3):
            raise DeviceSpecError(f"invalid device spec {spec!r}: only simulated devices take a latency")
        return DeviceRequest("tpu", tpu_type=m.group(1), index=index, backend="edgetpu")
    m = _INDEXED.match(s)
    if m:
        return DeviceRequest("tpu", tpu_type=m.group(1), index=int(m.group(2)), backend="edgetpu")
    if spec.strip().startswith("/"):
        return DeviceRequest("tpu", path=spec.strip(), backend="edgetpu")
    return None


def default_cpu_count() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
