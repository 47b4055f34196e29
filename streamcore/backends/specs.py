"""Device specs: which interpreters an engine creates and where they run.

Grammar (comma-separated lists allowed, e.g. ``"usb:0,usb:1"``):
``cpu`` / ``cpu:N`` (N CPU interpreters, one thread each), ``auto`` (every Edge TPU,
else the CPU), ``usb`` / ``pci`` (every TPU of that type), ``usb:N`` / ``pci:N`` / ``:N``
(the N-th TPU, pycoral style), a device path such as ``/dev/apex_0``, ``sim:N`` or
``sim:N@2.6ms`` (N simulated TPUs: the project's own libedgetpu simulator, never real
hardware), and the device names an engine reports (``usb0``, ``pci1``, ``sim2``) to pin a
model to one device.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

from ..errors import DeviceError

__all__ = ["DeviceRequest", "parse_devices", "DeviceSpec"]

DeviceSpec = Union[str, Sequence[str]]

_HELP = (
    "use cpu, cpu:N, auto, usb, pci, usb:N, pci:N, :N, a device path, a device name (usb0, "
    "sim1), or sim:N[@LATENCYms], separated by commas"
)
_SIM = re.compile(r"^sim(?::(\d+))?(?:@(\d+(?:\.\d+)?)ms)?$")
_INDEXED = re.compile(r"^(usb|pci)?:(\d+)$")
_NAMED = re.compile(r"^(usb|pci|sim)(\d+)(?:@(\d+(?:\.\d+)?)ms)?$")


@dataclass(frozen=True)
class DeviceRequest:
    kind: str  # "cpu", "auto", "tpu", "sim"
    count: int = 1  # cpu:N and sim:N
    tpu_type: Optional[str] = None  # "usb", "pci" or None for any
    index: Optional[int] = None  # the N-th TPU (of tpu_type)
    path: Optional[str] = None
    latency_ms: Optional[float] = None

    def __str__(self) -> str:
        if self.kind == "sim" and self.index is not None:
            return f"sim{self.index}"
        if self.kind in ("cpu", "sim"):
            text = f"{self.kind}:{self.count}"
            return text + (f"@{self.latency_ms:g}ms" if self.latency_ms is not None else "")
        if self.kind == "auto":
            return "auto"
        if self.path is not None:
            return self.path
        return f"{self.tpu_type or ''}:{self.index}" if self.index is not None else str(self.tpu_type)


def _positive(text: str, spec: str) -> int:
    n = int(text)
    if n < 1:
        raise DeviceError(f"invalid device spec {spec!r}: the count must be at least 1; {_HELP}")
    return n


def parse_one(spec: str) -> DeviceRequest:
    s = spec.strip().lower()
    if s in ("cpu",):
        return DeviceRequest("cpu", 1)
    if s.startswith("cpu:") and s[4:].isdigit():
        return DeviceRequest("cpu", _positive(s[4:], spec))
    if s == "auto":
        return DeviceRequest("auto")
    if s in ("usb", "pci"):
        return DeviceRequest("tpu", tpu_type=s)
    m = _SIM.match(s)
    if m:
        count = _positive(m.group(1), spec) if m.group(1) else 1
        latency = float(m.group(2)) if m.group(2) else None
        return DeviceRequest("sim", count, latency_ms=latency)
    m = _NAMED.match(s)
    if m:
        index = int(m.group(2))
        if m.group(1) == "sim":
            latency = float(m.group(3)) if m.group(3) else None
            return DeviceRequest("sim", index + 1, index=index, latency_ms=latency)
        if m.group(3):
            raise DeviceError(f"invalid device spec {spec!r}: only simulated devices take a latency; {_HELP}")
        return DeviceRequest("tpu", tpu_type=m.group(1), index=index)
    m = _INDEXED.match(s)
    if m:
        return DeviceRequest("tpu", tpu_type=m.group(1), index=int(m.group(2)))
    if spec.strip().startswith("/"):
        return DeviceRequest("tpu", path=spec.strip())
    raise DeviceError(f"invalid device spec {spec!r}; {_HELP}")


def parse_devices(spec: DeviceSpec) -> List[DeviceRequest]:
    parts: List[str] = []
    for item in [spec] if isinstance(spec, str) else list(spec):
        if not isinstance(item, str):
            raise DeviceError(f"invalid device spec {item!r}: expected a string; {_HELP}")
        parts.extend(p for p in item.split(",") if p.strip())
    if not parts:
        raise DeviceError(f"empty device spec; {_HELP}")
    return [parse_one(p) for p in parts]


def default_cpu_count() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
