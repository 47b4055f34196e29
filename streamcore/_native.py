"""Loads the native core once, pointed at the TFLite C++ API inside tflite_runtime."""

from __future__ import annotations

from tflite_runtime import _pywrap_tensorflow_interpreter_wrapper as _tflite_wrapper

from . import _core

_core.load_tflite(_tflite_wrapper.__file__)

core = _core

__all__ = ["core"]
