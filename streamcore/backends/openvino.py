"""The ``openvino`` backend: OpenVINO 2026.x through its C API (libopenvino_c from the
``openvino`` wheel), on its CPU, GPU, NPU and AUTO devices. Models (.tflite, .onnx, IR) are
converted once by OpenVINO's Python frontend into IR bytes; SSD models stop before
``TFLite_Detection_PostProcess`` and its decode and NMS run natively, giving TFLite's four
outputs. Install with ``pip install 'streamcore[openvino]'``."""

from __future__ import annotations

import importlib.util
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from .._native import core
from ..engine.model import Model
from ..errors import BackendUnavailableError, DeviceNotFoundError, ModelError
from .base import BuiltDevice, CpuOnly, Placement, finish
from .specs import DeviceRequest, positive

__all__ = ["OpenVinoBackend", "libs_dir"]

PIP = "pip install 'streamcore[openvino]' (openvino>=2026.0,<2027)"
_lock = threading.Lock()
# Conversions are done once per model bytes and shared by every device of an engine.
_converted: Dict[Tuple[str, int, int], Dict[str, Any]] = {}


def libs_dir() -> str:
    spec = importlib.util.find_spec("openvino")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError(f"the openvino backend needs OpenVINO, which is not installed; {PIP}")
    return str(Path(list(spec.submodule_search_locations)[0]) / "libs")


def runtime() -> Any:
    with _lock:
        return core.load_openvino(libs_dir())  # one per path, natively; checks the version


@dataclass(frozen=True)
class Slot:
    """One device of a group: the `size` devices one spec asks for share one compiled model
    (on the CPU, one stream each: separately compiled single-stream models all run on one core)."""

    target: str
    group: int
    index: int
    size: int


_groups = iter(range(1 << 62))


def _convert(model: Model) -> Dict[str, Any]:
    """How to compile `model`: {"ssd", "input_quant", "output_quant"} and either IR bytes
    ("xml", "weights": SSDs, converted by OpenVINO's Python frontend with the postprocess
    extension) or nothing more (every other model, read from its file by the C API)."""
    from .openvino_model import convert_full, read_ssd_options, tflite_quant

    key = (model.name, len(model.data), hash(model.data))
    with _lock:
        done = _converted.get(key)
    if done is None:
        ssd = read_ssd_options(model.data) if model.format == "tflite" else None
        if ssd is not None:
            done = convert_full(model.data, Path(model.name).stem or "model")
        elif model.format == "tflite":
            input_quant, output_quant = tflite_quant(model.data)
            done = {"ssd": None, "input_quant": input_quant, "output_quant": output_quant}
        else:
            done = {"ssd": None, "input_quant": (0.0, 0), "output_quant": []}
        with _lock:
            _converted[key] = done
    return done


@contextmanager
def _model_file(model: Model, in_memory: bool) -> Iterator[str]:
    """The file OpenVINO's C API reads `model` from ("" when it comes as IR bytes)."""
    if in_memory:
        yield ""
    elif model.path is not None and (model.format != "tflite" or model.path.suffix.lower() == ".tflite"):
        yield str(model.path)
    elif model.format != "tflite":
        raise ModelError(f"{model.name}: an {model.format} model is read from its file; pass its path")
    else:
        with tempfile.TemporaryDirectory(prefix="streamcore-ov-") as folder:
            path = Path(folder) / "model.tflite"  # the frontend is chosen by the suffix
            path.write_bytes(model.data)
            yield str(path)


class OpenVinoBackend(CpuOnly):
    name = "openvino"
    spec_forms = "openvino:CPU[:N], openvino:GPU, openvino:GPU.1, openvino:NPU, openvino:AUTO"

    def parse(self, spec: str) -> Optional[DeviceRequest]:
        if not spec.lower().startswith("openvino"):
            return None
        rest = spec[len("openvino"):]
        if rest in ("", ":"):
            return DeviceRequest("openvino", 1, backend=self.name, target="CPU")
        if not rest.startswith(":"):
            return None
        target, _, count = rest[1:].partition(":")
        if not target or (count and not count.isdigit()):
            return None
        return DeviceRequest("openvino", positive(count, spec) if count else 1, backend=self.name,
                             target=target.upper())

    def runtime(self) -> Any:
        return runtime()

    def library(self, rt: Any) -> Tuple[str, str]:
        return str(rt.library_path), str(rt.version)

    def environment(self) -> Dict[str, Any]:
        env = super().environment()
        if env["available"]:
            env["devices"] = list(runtime().available_devices())
        return env

    def enumerate(self) -> List[Dict[str, Any]]:
        try:
            rt = runtime()
        except BackendUnavailableError:
            return []
        return [{"name": f"openvino:{d}", "type": d.split(".")[0].lower(), "path": rt.full_device_name(d),
                 "state": "available", "simulated": False} for d in rt.available_devices()]

    def place(self, requests: Sequence[DeviceRequest], pool: Any) -> List[Placement]:
        rt = runtime()
        present = list(rt.available_devices())
        placements: List[Placement] = []
        for request in requests:
            target = str(request.target)
            if target not in present and target.split(":")[0] not in ("AUTO", "MULTI", "HETERO"):
                raise DeviceNotFoundError(
                    f"OpenVINO has no device {target!r} here; the devices that exist are "
                    f"{', '.join(present) or 'none'} (and AUTO); see `python -m streamcore devices`"
                )
            stem = "cpu" if request.generic else "ov-" + target.lower().replace(".", "-")
            used = sum(p.name.startswith(stem) for p in placements)
            group = next(_groups)
            placements += [Placement(f"{stem}{used + i}", self.name, rt, Slot(target, group, i, request.count))
                           for i in range(request.count)]
        return placements

    def refuse(self, model: Model) -> Optional[str]:
        if model.is_edgetpu:
            return (f"{model.name} is compiled for the Edge TPU (edgetpu-custom-op), which OpenVINO cannot "
                    "run; use the model's CPU version (without _edgetpu) on openvino")
        return None

    def build(self, model: Model, placement: Placement, pool: Any) -> BuiltDevice:
        why = self.refuse(model)
        if why:
            raise ModelError(why)
        slot: Slot = placement.record
        shared: Dict[Any, Any] = pool.shared if pool is not None else {}
        key = ("openvino", id(model), slot.group)
        compiled = shared.get(key)
        if compiled is None:
            converted = _convert(model)
            with _model_file(model, "xml" in converted) as path:
                compiled = core.openvino_compile(
                    placement.runtime, converted.get("xml", b""), converted.get("weights", b""), device=slot.target,
                    num_threads=1 if slot.target == "CPU" else 0, streams=slot.size, ssd_options=converted["ssd"],
                    input_quant=converted["input_quant"], output_quant=converted["output_quant"], model_path=path,
                )
            shared[key] = compiled
        native = core.openvino_device(compiled, placement.name)
        target = slot.target
        return finish(native, placement.name, target.split(".")[0].lower(), self.name, model.name)


BACKEND = OpenVinoBackend()
