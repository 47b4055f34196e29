"""What a bench run measures: device configurations resolved against the hardware, and
the model each one runs (CPU or Edge TPU flavour)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import tflite

from ...adapters.auto import guess_task
from ...backends.edgetpu import load_runtime, records, resolve, sim_runtime
from ...backends.registry import parse_devices
from ...backends.specs import DeviceRequest, default_cpu_count
from ...engine.model import Model
from ...errors import DeviceError, EdgeTpuUnavailableError, InputError, ModelError
from .. import synthetic

__all__ = ["ModelChoice", "DeviceConfig", "Plan", "make_plan", "Hardware", "probe_hardware", "MODES"]

MODES = ("latency", "throughput", "pipeline")
_IMAGE_TYPES = {tflite.TensorType.UINT8: "uint8", tflite.TensorType.INT8: "int8", tflite.TensorType.FLOAT32: "float32"}
_TYPE_NAMES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
SYNTHETIC_CPU = "built-in synthetic MobileNet V2 (random weights)"
SYNTHETIC_SIM = "built-in synthetic Edge TPU classifier (runs on the simulator only)"


@dataclass
class ModelChoice:
    source: Union[Path, bytes]
    name: str
    path: Optional[str]
    origin: str  # "--model", "edgetpu sibling", "cpu sibling", SYNTHETIC_*
    edgetpu: bool
    task: str  # classify | detect | segment | pose (streamcore.adapters.auto.guess_task)
    input_shape: Tuple[int, int, int]

    @property
    def detector(self) -> bool:
        return self.task == "detect"

    def as_json(self) -> Dict[str, Any]:
        return {"name": self.name, "path": self.path, "origin": self.origin, "edgetpu": self.edgetpu}


@dataclass
class DeviceConfig:
    spec: str  # what the engine gets, e.g. "cpu:2", "litert:cpu:1", "openvino:CPU", "sim:4", "usb:0"
    kind: str  # cpu (any host-model backend, OpenVINO devices included) | tpu | sim
    model: ModelChoice
    sim_latency_ms: Optional[float] = None
    notes: List[str] = field(default_factory=list)
    backend: str = "tflite"  # the backend of its devices (edgetpu for TPUs and the simulator)

    @property
    def family(self) -> str:
        """What its baseline loop is: cpu (tflite_runtime), sim, tpu, litert or openvino."""
        return self.backend if self.kind == "cpu" and self.backend != "tflite" else self.kind

    @property
    def simulated(self) -> bool:
        return self.kind == "sim"

    @property
    def label(self) -> str:
        return f"{self.spec} [SIMULATED]" if self.simulated else self.spec


@dataclass
class Hardware:
    """The real Edge TPU runtime and devices present (never the simulator)."""

    library: Optional[str]
    version: Optional[str]
    error: Optional[str]
    tpus: List[Tuple[str, str]]  # (type, path)


def probe_hardware() -> Hardware:
    try:
        runtime = load_runtime()
    except EdgeTpuUnavailableError as e:
        return Hardware(None, None, str(e), [])
    return Hardware(runtime.path, runtime.version(), None, [(r.type, r.path) for r in records(runtime)])


@dataclass
class Plan:
    configs: List[DeviceConfig]
    target: str  # "tpu" | "cpu" | "sim" | "mixed": what the run measures, for the header
    hardware: Hardware
    notes: List[str]


def _kind_of(requests: Sequence[DeviceRequest], spec: str) -> str:
    # Host-model devices (any CPU backend, OpenVINO's CPU/GPU/NPU) run the CPU model.
    kinds = {"cpu" if r.kind in ("cpu", "openvino") else "sim" if r.kind == "sim" else "tpu" for r in requests}
    if len(kinds) > 1:
        raise DeviceError(
            f"--devices {spec} mixes {' and '.join(sorted(kinds))} devices in one configuration; "
            "give each kind as its own --devices to compare them side by side"
        )
    return kinds.pop()


def _default_specs(hardware: Hardware) -> List[str]:
    if hardware.tpus:
        specs = ["cpu:1", ":0"]
        return specs + (["auto"] if len(hardware.tpus) > 1 else [])
    cores = default_cpu_count()
    return ["cpu:1"] + ([f"cpu:{cores}"] if cores > 1 else [])


def _check_satisfiable(requests: Sequence[DeviceRequest], kind: str, spec: str, hardware: Hardware) -> None:
    """Fails before anything runs when a configuration cannot be opened."""
    if kind == "sim":
        latencies = {r.latency_ms for r in requests}
        if len(latencies) > 1:
            raise DeviceError(f"--devices {spec}: simulated devices of one configuration must share one latency")
        sim_runtime(max(r.count for r in requests), requests[0].latency_ms)  # the simulator is built
    elif kind == "tpu":
        if hardware.library is None:
            raise EdgeTpuUnavailableError(f"--devices {spec} needs an Edge TPU: {hardware.error}")
        if all(r.kind == "auto" for r in requests) and not hardware.tpus:
            return  # auto means the CPU when there is no TPU; expanded by the caller
        resolve(load_runtime(), [r for r in requests if r.kind != "auto"])
        if not hardware.tpus:
            raise DeviceError(f"--devices {spec}: no Edge TPU found; plug one in, or use cpu:N or sim:N")


def make_plan(model: Optional[str], device_specs: Sequence[str]) -> Plan:
    hardware = probe_hardware()
    notes: List[str] = []
    specs = list(device_specs) or _default_specs(hardware)
    configs: List[DeviceConfig] = []
    for spec in specs:
        requests = parse_devices(spec)
        if any(r.kind == "auto" for r in requests) and not hardware.tpus:
            if len(requests) > 1:
                raise DeviceError(f"--devices {spec}: 'auto' cannot be combined with other devices")
            cores = default_cpu_count()
            notes.append(f"--devices {spec}: no Edge TPU found, so it means cpu:{cores}")
            spec, requests = f"cpu:{cores}", parse_devices(f"cpu:{cores}")
        kind = _kind_of(requests, spec)
        _check_satisfiable(requests, kind, spec, hardware)
        choice, note = choose_model(model, kind)
        backends = {r.backend for r in requests}
        if len(backends) > 1:
            raise DeviceError(
                f"--devices {spec} mixes the backends {', '.join(sorted(str(b) for b in backends))} in one "
                "configuration; give each as its own --devices to compare them side by side"
            )
        config = DeviceConfig(spec, kind, choice, requests[0].latency_ms if kind == "sim" else None,
                              backend=str(requests[0].backend))
        if note:
            config.notes.append(note)
        configs.append(config)
    kinds = {c.kind for c in configs}
    target = kinds.pop() if len(kinds) == 1 else "mixed"
    return Plan(configs, target, hardware, notes)


_cache: Dict[Tuple[Optional[str], str], Tuple[ModelChoice, Optional[str]]] = {}


def choose_model(given: Optional[str], kind: str) -> Tuple[ModelChoice, Optional[str]]:
    """The model a configuration runs, and a note when it is not the one given."""
    key = (given, "cpu" if kind == "cpu" else "tpu" if kind == "tpu" else "sim")
    if key not in _cache:
        _cache[key] = _choose_model(given, kind)
    return _cache[key]


def _choose_model(given: Optional[str], kind: str) -> Tuple[ModelChoice, Optional[str]]:
    if given is None:
        if kind == "cpu":
            path = synthetic.cached_path("mobilenet_v2", synthetic.mobilenet_v2)
            return _describe(path, SYNTHETIC_CPU), None
        if kind == "sim":
            path = synthetic.cached_path("edgetpu_classifier-224-1001", synthetic.edgetpu_classifier)
            return _describe(path, SYNTHETIC_SIM), None
        raise InputError(
            "Edge TPUs are present, but the built-in synthetic model is not compiled Edge TPU code; "
            "pass --model with a model compiled by edgetpu_compiler (e.g. "
            "mobilenet_v2_1.0_224_quant_edgetpu.tflite), or use --devices cpu:N or sim:N"
        )
    path = Path(given)
    model = Model(path)  # missing or garbage files fail here
    if kind == "cpu" and model.is_edgetpu:
        sibling = path.with_name(path.name.replace("_edgetpu", ""))
        if sibling != path and sibling.is_file():
            return _describe(sibling, "cpu sibling"), (
                f"{path.name} is compiled for the Edge TPU; the CPU runs its CPU version {sibling.name}"
            )
        raise ModelError(
            f"{path.name} is compiled for the Edge TPU and cannot run on a CPU configuration; "
            f"put its CPU version ({path.name.replace('_edgetpu', '')}) next to it, or bench it on usb, pci or sim:N"
        )
    if kind != "cpu" and not model.is_edgetpu:
        sibling = path.with_name(f"{path.stem}_edgetpu{path.suffix}")
        if sibling.is_file():
            return _describe(sibling, "edgetpu sibling"), (
                f"{path.name} is a CPU model; the Edge TPU runs its compiled version {sibling.name}"
            )
        return _describe(path, "--model"), (
            f"{path.name} has no edgetpu-custom-op node: on the Edge TPU it runs on the host CPU; "
            "compile it with edgetpu_compiler"
        )
    return _describe(path, "--model"), None


def _describe(path: Path, origin: str) -> ModelChoice:
    model = Model(path)
    shape, task = inspect_model(model)
    return ModelChoice(path, model.name, str(path) if not origin.startswith("built-in") else None,
                       origin, model.is_edgetpu, task, shape)


def inspect_model(model: Model) -> Tuple[Tuple[int, int, int], str]:
    """(height, width, channels) of the image input, and the model's task (classify, detect,
    segment or pose, from its outputs). ModelError when video frames cannot feed it."""
    m = tflite.Model.GetRootAsModel(model.data, 0)
    graph = m.Subgraphs(0)
    if graph is None or graph.InputsLength() != 1:
        count = 0 if graph is None else graph.InputsLength()
        raise ModelError(f"{model.name} has {count} inputs; bench feeds video frames to single-input image models")
    tensor = graph.Tensors(graph.Inputs(0))
    shape = [int(d) for d in tensor.ShapeAsNumpy()] if tensor.ShapeLength() else []
    dtype = _IMAGE_TYPES.get(tensor.Type())
    if len(shape) != 4 or shape[0] != 1 or shape[3] not in (1, 3) or dtype is None:
        name = tensor.Name().decode(errors="replace") if tensor.Name() else "input"
        type_name = _TYPE_NAMES.get(tensor.Type(), str(tensor.Type())).lower()
        raise ModelError(
            f"{model.name}: input {name!r} is {shape} {type_name}, not an image tensor "
            "[1, height, width, 1 or 3] of uint8, int8 or float32, so video frames cannot feed it; "
            "pass an image classification, detection, segmentation or pose model"
        )
    codes = [m.OperatorCodes(i).CustomCode() for i in range(m.OperatorCodesLength())]
    outputs = [graph.Tensors(graph.Outputs(i)) for i in range(graph.OutputsLength())]
    output_shapes = [[int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else [] for t in outputs]
    task = guess_task(output_shapes, postprocess=b"TFLite_Detection_PostProcess" in codes)
    return (shape[1], shape[2], shape[3]), task
