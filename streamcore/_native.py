"""The native core. Backends load their runtimes through it on first use (tflite_runtime's
C++ API, libedgetpu, libLiteRt, libopenvino_c): none is needed to import streamcore."""

from __future__ import annotations

from . import _core

core = _core

__all__ = ["core"]
