"""The ``litert`` backend: ai-edge-litert 2.3's C API (libLiteRt.so from its wheel), XNNPACK
on the CPU with the quantized kernels, over streamcore's own 64-byte-aligned buffers (the
model input is where preprocess writes; outputs land in the result block)."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .._native import core
from ..engine.model import Model
from ..errors import BackendUnavailableError, ModelError
from .base import BuiltDevice, CpuOnly, Placement, finish
from .specs import DeviceRequest, positive
from .tflite import edgetpu_refusal, format_refusal

__all__ = ["LiteRtBackend", "library_path"]

PIP = "pip install 'ai-edge-litert>=2.3,<2.4'"
_lock = threading.Lock()


def library_path() -> str:
    """libLiteRt.so of the installed ai-edge-litert, found without importing the package."""
    spec = importlib.util.find_spec("ai_edge_litert")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError(f"the litert backend needs ai-edge-litert, which is not installed; {PIP}")
    path = Path(list(spec.submodule_search_locations)[0]) / "libLiteRt.so"
    if not path.exists():
        raise BackendUnavailableError(f"ai-edge-litert is installed but has no {path.name}; reinstall it: {PIP}")
    return str(path)


def runtime() -> Any:
    path = library_path()
    with _lock:
        return core.litert_runtime(path)  # cached natively; checks the version


class LiteRtBackend(CpuOnly):
    name = "litert"
    spec_forms = "litert:cpu[:N]"

    def parse(self, spec: str) -> Optional[DeviceRequest]:
        s = spec.lower()
        if s in ("litert", "litert:cpu"):
            return DeviceRequest("cpu", 1, backend="litert")
        if s.startswith("litert:cpu:") and s[11:].isdigit():
            return DeviceRequest("cpu", positive(s[11:], spec), backend="litert")
        return None

    def runtime(self) -> Any:
        return runtime()

    def library(self, rt: Any) -> Tuple[str, str]:
        return str(rt.path), str(rt.version)

    def place(self, requests: Sequence[DeviceRequest], pool: Any) -> List[Placement]:
        rt = runtime()
        stems = [("cpu" if r.generic else "litert") for r in requests for _ in range(r.count)]
        return [Placement(f"{stem}{stems[:i].count(stem)}", self.name, rt) for i, stem in enumerate(stems)]

    def refuse(self, model: Model) -> Optional[str]:
        return format_refusal(model, "LiteRT") or edgetpu_refusal(model, "litert:cpu")

    def build(self, model: Model, placement: Placement, pool: Any) -> BuiltDevice:
        why = self.refuse(model)
        if why:
            raise ModelError(why)
        native = core.litert_device(placement.runtime, model.data, 1, placement.name, model.takes_frames)
        return finish(native, placement.name, "cpu", self.name, model.name, multi_input=True)


BACKEND = LiteRtBackend()
