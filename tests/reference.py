"""The reference interpreter tests compare against: tflite_runtime's where it is installed
(Python <=3.11), else ai_edge_litert's, which has the same Python API."""

from __future__ import annotations

from typing import Any

import pytest

import importlib

Interpreter: Any
try:
    Interpreter = importlib.import_module("tflite_runtime.interpreter").Interpreter
except ImportError:  # Python 3.12+: LiteRT is the CPU runtime
    Interpreter = importlib.import_module("ai_edge_litert.interpreter").Interpreter

__all__ = ["Interpreter", "needs_tflite", "tflite_missing"]


def tflite_missing() -> "str | None":
    """Why the Edge TPU (and its simulator) cannot run here, or None: libedgetpu plugs into
    tflite_runtime's C++ interpreter, which has no wheel for Python 3.12+."""
    from streamcore.backends import registry

    return registry.get("tflite").unavailable()


def _edgetpu_reason() -> str:
    why = tflite_missing()
    return f"Edge TPUs and the simulator need tflite_runtime here: {why}" if why else ""


# Marks tests that run the Edge TPU path (the simulator included).
needs_tflite = pytest.mark.skipif(bool(tflite_missing()), reason=_edgetpu_reason())
