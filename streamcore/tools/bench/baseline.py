"""The hand-written loop users write from the Coral examples, measured like streamcore:
PyAV decode, to_ndarray, resize (OpenCV if installed, else PyAV's reformat), set_tensor,
invoke, get_tensor, then what the Coral examples do with the outputs (top-1, the argmax of a
segmentation's class scores, MoveNet's reshape); one thread. On the CPU the faster of the plain Interpreter and
the Interpreter with XNNPACK applied; on Edge TPUs (and the simulator) a pycoral-style
interpreter with the Edge TPU custom op bound to one device. For the other CPU backends, that
runtime's own Python API: ai_edge_litert's Interpreter, or an OpenVINO compiled model."""

from __future__ import annotations

import gc
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import av
import numpy as np
from numpy.typing import NDArray

from ..._native import core
from ...adapters import get_classes
from ...backends.edgetpu import load_runtime, resolve, sim_runtime
from ...backends.registry import parse_devices
from .clip import DecodedVideo
from .metrics import Budget, ResourceSampler
from .plan import DeviceConfig
from .progress import Progress
from .runner import Collected, Inputs, Settings, make_record

__all__ = ["run_baseline"]

cv2: Any
try:  # OpenCV is what the Coral examples use when it is there
    import cv2

    RESIZER = "cv2.resize"
except ImportError:  # pragma: no cover - opencv is a test dependency
    cv2 = None
    RESIZER = "frame.reformat"

_CALIBRATION_INVOKES = 20
_CALIBRATION_S = 0.5
_choices: Dict[Tuple[str, str], Tuple[bool, str]] = {}  # (model, kind) -> (xnnpack, note): calibrated once


class _Loop:
    """One interpreter and what keeps it valid (a delegate, an Edge TPU binding)."""

    def __init__(self, interpreter: Any, keepalive: List[Any], variant: str) -> None:
        self.interpreter = interpreter
        self.keepalive = keepalive
        self.variant = variant
        inp = interpreter.get_input_details()[0]
        self.input_index = int(inp["index"])
        self.height, self.width = int(inp["shape"][1]), int(inp["shape"][2])
        self.dtype = np.dtype(inp["dtype"])
        scale, zero_point = inp["quantization"]
        self.scale, self.zero_point = float(scale), int(zero_point)
        self.outputs = interpreter.get_output_details()

    def to_input(self, frame: Any) -> NDArray[Any]:
        if cv2 is not None:
            rgb: NDArray[Any] = np.asarray(cv2.resize(frame.to_ndarray(format="rgb24"), (self.width, self.height),
                                        interpolation=cv2.INTER_LINEAR))
        else:
            rgb = np.asarray(frame.reformat(self.width, self.height, format="rgb24").to_ndarray())
        if self.dtype == np.uint8:
            return rgb[np.newaxis]
        real = (rgb.astype(np.float32) - 128.0) / 128.0
        if self.dtype == np.float32:
            return real[np.newaxis]
        q = np.round(real / self.scale + self.zero_point)
        quantized: NDArray[Any] = np.clip(q, -128, 127).astype(np.int8)
        return quantized[np.newaxis]

    def run(self, tensor: NDArray[Any]) -> None:
        self.interpreter.set_tensor(self.input_index, tensor)
        self.interpreter.invoke()

    def postprocess(self, task: str) -> Any:
        """What the Coral examples do with the outputs of each kind of model."""
        if task == "detect":
            return [self.interpreter.get_tensor(int(o["index"])) for o in self.outputs]
        if task == "segment":  # examples/semantic_segmentation.py
            mask = self.interpreter.get_tensor(int(self.outputs[0]["index"]))[0]
            return np.argmax(mask, axis=-1) if mask.ndim == 3 else mask
        if task == "pose":  # examples/movenet_pose_estimation.py
            return self.interpreter.get_tensor(int(self.outputs[0]["index"])).copy().reshape(-1, 3)
        out = self.outputs[0]
        raw = self.interpreter.get_tensor(int(out["index"]))
        scale, zero_point = out["quantization"]
        scores = (raw.astype(np.float32) - zero_point) * scale if scale else raw
        return get_classes(scores, 1)

    def close(self) -> None:
        del self.interpreter
        self.keepalive.clear()
        gc.collect()


def _cpu_interpreter(data: bytes, xnnpack: bool) -> _Loop:
    from tflite_runtime.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_content=data, num_threads=1,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    if not xnnpack:
        interpreter.allocate_tensors()
        return _Loop(interpreter, [], "tflite_runtime Interpreter, 1 thread")
    delegate = core.XnnpackDelegate(1)
    handle = int(interpreter._native_handle())
    delegate.apply_to(handle)
    core.allocate_tensors(handle)
    return _Loop(interpreter, [delegate], "tflite_runtime Interpreter + XNNPACK, 1 thread")


def _invoke_ms(loop: _Loop) -> float:
    tensor = np.zeros((1, loop.height, loop.width, 3), loop.dtype)
    for _ in range(2):
        loop.run(tensor)
    t = time.perf_counter()
    n = 0
    while n < _CALIBRATION_INVOKES and time.perf_counter() - t < _CALIBRATION_S:
        loop.run(tensor)
        n += 1
    return (time.perf_counter() - t) * 1000.0 / n


def _tpu_interpreter(data: bytes, config: DeviceConfig) -> _Loop:
    requests = parse_devices(config.spec)
    if config.simulated:
        runtime = sim_runtime(max(r.count for r in requests), config.sim_latency_ms)
    else:
        runtime = load_runtime()
    record = resolve(runtime, requests)[0]
    opened = runtime.open(record.type, record.path, {})
    from tflite_runtime.interpreter import InterpreterWithCustomOps, OpResolverType

    interpreter = InterpreterWithCustomOps(
        model_content=data, num_threads=1,
        custom_op_registerers=[runtime.custom_op_registerer()],
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    handle = int(interpreter._native_handle())
    binding = core.bind_edgetpu_interpreter(handle, opened)
    core.allocate_tensors(handle)
    where = "SIMULATED Edge TPU" if config.simulated else f"Edge TPU {record.type}:{record.path}"
    return _Loop(interpreter, [binding, opened], f"pycoral-style interpreter on one {where}")


def _open_loop(config: DeviceConfig) -> Tuple[_Loop, List[str]]:
    source = config.model.source
    data = source if isinstance(source, bytes) else source.read_bytes()
    if config.kind != "cpu":
        return _tpu_interpreter(data, config), []
    if config.backend == "litert":
        return _litert_interpreter(data), []
    if config.backend == "openvino":
        return _openvino_loop(data, config)
    key = (config.model.name, config.kind)
    if key not in _choices:
        plain = _cpu_interpreter(data, xnnpack=False)
        xnn = _cpu_interpreter(data, xnnpack=True)
        plain_ms, xnn_ms = _invoke_ms(plain), _invoke_ms(xnn)
        plain.close()
        xnn.close()
        _choices[key] = (xnn_ms <= plain_ms, f"invoke measured first: plain Interpreter {plain_ms:.2f} ms, "
                                              f"with XNNPACK {xnn_ms:.2f} ms; the faster is the baseline")
    use_xnnpack, note = _choices[key]
    return _cpu_interpreter(data, xnnpack=use_xnnpack), [note]


def _litert_interpreter(data: bytes) -> _Loop:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data, num_threads=1)
    interpreter.allocate_tensors()
    return _Loop(interpreter, [], "ai_edge_litert Interpreter, 1 thread")


class _OpenVinoInterpreter:
    """An OpenVINO compiled model behind the get_tensor/set_tensor calls the loop makes."""

    def __init__(self, data: bytes, target: str) -> None:
        import openvino as ov

        from ...backends.openvino_model import convert_full

        converted = convert_full(data, "baseline")  # SSDs stop before their postprocess op
        core = ov.Core()
        model = core.read_model(converted["xml"].decode(), ov.Tensor(np.frombuffer(converted["weights"], np.uint8)))
        config = {"INFERENCE_NUM_THREADS": 1} if target == "CPU" else {}
        self.compiled = core.compile_model(model, target, config)
        self.request = self.compiled.create_infer_request()
        port = self.compiled.inputs[0]
        shape = [int(d) for d in port.get_shape()]
        dtype = np.dtype(port.get_element_type().to_dtype())
        self._inputs = [{"index": 0, "shape": np.array(shape), "dtype": dtype,
                         "quantization": tuple(converted["input_quant"])}]
        self._outputs = [{"index": i, "quantization": tuple(q) if q[0] else (0.0, 0)}
                         for i, q in enumerate(converted["output_quant"] or [(0.0, 0)] * len(self.compiled.outputs))]

    def get_input_details(self) -> List[Dict[str, Any]]:
        return self._inputs

    def get_output_details(self) -> List[Dict[str, Any]]:
        return self._outputs

    def set_tensor(self, index: int, tensor: NDArray[Any]) -> None:
        self.request.set_input_tensor(index, __import__("openvino").Tensor(tensor, shared_memory=True))

    def invoke(self) -> None:
        self.request.infer()

    def get_tensor(self, index: int) -> NDArray[Any]:
        out: NDArray[Any] = self.request.get_output_tensor(index).data
        return out


def _openvino_loop(data: bytes, config: DeviceConfig) -> Tuple[_Loop, List[str]]:
    target = str(parse_devices(config.spec)[0].target)
    loop = _Loop(_OpenVinoInterpreter(data, target), [], f"OpenVINO compiled model on {target}, 1 thread")
    notes = ["the OpenVINO baseline stops before TFLite_Detection_PostProcess (OpenVINO cannot convert it)"] \
        if config.model.detector else []
    return loop, notes


def _repeat(image: Any) -> Iterator[Tuple[Any, Optional[float]]]:
    while True:
        yield image, None


def _decoded(video: DecodedVideo) -> Iterator[Tuple[Any, Optional[float]]]:
    while True:
        for frame in video.frames:
            yield frame, None


def _decoding(path: str) -> Iterator[Tuple[Any, Optional[float]]]:
    """PyAV decode, replaying the file at its end (as the bench's pipeline mode does)."""
    while True:
        with av.open(path) as container:
            stream = container.streams.video[0]
            decoder = container.decode(stream)
            while True:
                t = time.perf_counter()
                try:
                    frame = next(decoder)
                except StopIteration:
                    break
                yield frame, (time.perf_counter() - t) * 1000.0


def run_baseline(config: DeviceConfig, mode: str, inputs: Inputs, settings: Settings,
                 progress: Progress) -> Dict[str, Any]:
    loop, notes = _open_loop(config)
    try:
        streams = 1 if mode == "latency" else settings.streams
        if mode == "latency":
            image = inputs.videos[0].frames[0]
            sources: List[Iterator[Tuple[Any, Optional[float]]]] = [_repeat(image)]
        elif mode == "throughput":
            sources = [_decoded(inputs.for_stream(k)) for k in range(streams)]
        else:
            sources = [_decoding(inputs.for_stream(k).path) for k in range(streams)]
        first = inputs.videos[0].frames[0]
        t = time.perf_counter()
        loop.run(loop.to_input(first))
        loop.postprocess(config.model.task)
        first_ms = (time.perf_counter() - t) * 1000.0
        for _ in range(settings.warmup):
            loop.run(loop.to_input(first))
        collected = Collected(stream_frames=[0] * streams, dropped=[0] * streams)
        budget = settings.budget()
        sampler = ResourceSampler()
        sampler.start()
        budget.start()
        k = 0
        while not budget.done(collected.frames):
            t0 = time.perf_counter()
            frame, decode_ms = next(sources[k])
            t1 = time.perf_counter()
            tensor = loop.to_input(frame)
            t2 = time.perf_counter()
            loop.run(tensor)
            t3 = time.perf_counter()
            loop.postprocess(config.model.task)
            t4 = time.perf_counter()
            if decode_ms is not None:
                collected.decode_ms.append(decode_ms)
            collected.preprocess_ms.append((t2 - t1) * 1000.0)
            collected.invoke_ms.append((t3 - t2) * 1000.0)
            collected.postprocess_ms.append((t4 - t3) * 1000.0)
            collected.latency_ms.append((t4 - t0) * 1000.0)
            collected.stream_frames[k] += 1
            collected.frames += 1
            k = (k + 1) % streams
            if collected.frames % 16 == 0:
                elapsed = budget.elapsed()
                progress.update(budget.fraction(collected.frames),
                                f"{elapsed:5.1f} s  {collected.frames} frames  {collected.frames / elapsed:7.1f} FPS")
        usage = sampler.stop()
    finally:
        variant = loop.variant
        loop.close()
    post = {"detect": "get_tensor of each output", "segment": "get_tensor + argmax over classes (if scores)",
            "pose": "get_tensor + reshape to 17 keypoints"}.get(config.model.task, "get_tensor + top-1")
    notes.append(f"resize: {RESIZER}; invoke includes set_tensor; postprocess: {post}")
    if streams > 1:
        notes.append(f"one thread serves the {streams} streams in turn")
    name = "sim0" if config.simulated else ("cpu" if config.kind == "cpu" else "tpu0")
    family = config.family
    return make_record(
        config=f"baseline:{family}", label=f"baseline {family}" + (" [SIMULATED]" if config.simulated else ""),
        kind=config.kind, simulated=config.simulated, mode=mode, streams=streams, model=config.model.as_json(),
        collected=collected, usage=usage, load_s=None, first_ms=first_ms,
        devices=[{"name": name, "backend": config.backend, "kind": config.kind, "simulated": config.simulated,
                  "frames": collected.frames,
                  "busy_fraction": round(min(1.0, sum(collected.invoke_ms) / 1000.0 / usage.wall_s), 3)}],
        notes=notes, baseline=variant,
    )
