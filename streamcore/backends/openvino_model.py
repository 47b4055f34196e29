"""Model conversion for streamcore's OpenVINO backend, for SSD models.

Models without ``TFLite_Detection_PostProcess`` are read by OpenVINO's C API from their file
(backends/openvino.py); only SSDs need OpenVINO's Python frontend, for the conversion
extension below. (Importing OpenVINO's Python package sends usage telemetry unless the user
opted out, and forks a process to do it: one more reason to import it only when needed.)

Every model (.tflite, .onnx, .xml+.bin) goes through OpenVINO's Python frontend once and comes
out as IR bytes (xml + weights), which the native device reads with
ov_core_read_model_from_memory_buffer: one native path for all formats.

TFLite's TFLite_Detection_PostProcess has no OpenVINO translator. A frontend
ConversionExtension replaces it by its three inputs cast to f32 (box encodings [1,N,4],
class scores [1,N,C] in 0..1, anchors [N,4]); the op's flexbuffer options are read from the
model and returned, and the native side decodes + runs NMS exactly as TFLite's kernel does.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

POSTPROCESS_OP = "TFLite_Detection_PostProcess"
EDGETPU_MARKER = b"edgetpu-custom-op"

from ..errors import ModelError


_SSD_KEYS = {
    "max_detections": int, "max_classes_per_detection": int, "detections_per_class": int,
    "use_regular_nms": bool, "nms_score_threshold": float, "nms_iou_threshold": float,
    "num_classes": int, "y_scale": float, "x_scale": float, "h_scale": float, "w_scale": float,
}
# TFLite's kernel defaults for the optional keys.
_SSD_DEFAULTS = {"detections_per_class": 100, "use_regular_nms": False}


def read_ssd_options(tflite_bytes: bytes) -> Optional[Dict[str, Any]]:
    """The TFLite_Detection_PostProcess custom options of the model, or None without that op."""
    import tflite  # flatbuffer reader
    from flatbuffers import flexbuffers

    model = tflite.Model.GetRootAsModel(bytearray(tflite_bytes), 0)
    codes = {}
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        cc = oc.CustomCode()
        if cc is not None:
            codes[i] = cc.decode() if isinstance(cc, bytes) else cc
    found = None
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            if codes.get(op.OpcodeIndex()) == POSTPROCESS_OP:
                if found is not None:
                    raise ModelError(f"more than one {POSTPROCESS_OP} op: not supported")
                found = bytes(op.CustomOptionsAsNumpy().tobytes())
    if found is None:
        return None
    raw = flexbuffers.Loads(found)
    opts = {}
    for key, typ in _SSD_KEYS.items():
        if key in raw and raw[key] is not None:
            opts[key] = typ(raw[key])
        elif key in _SSD_DEFAULTS:
            opts[key] = _SSD_DEFAULTS[key]
        else:
            raise ModelError(f"{POSTPROCESS_OP} options lack {key!r}")
    return opts


def _postprocess_extension() -> Any:
    import openvino as ov
    from openvino.frontend import ConversionExtension

    import numpy as np

    def convert(node: Any) -> Any:
        # Outputs 0..2 stand for the op's three inputs; native code does decode + NMS.
        # The op has 4 outputs and the frontend needs all 4 (3 crash it): output 3 is a
        # placeholder constant the native side ignores.
        outs = [ov.opset13.convert(node.get_input(i), "f32").output(0) for i in range(3)]
        outs.append(ov.opset13.constant(np.zeros([1], np.float32)).output(0))
        return outs

    return ConversionExtension(POSTPROCESS_OP, convert)


_UNCONVERTIBLE = re.compile(r"No translator found for (\S+) node")


def _tflite_quant(data: bytes) -> Dict[str, Tuple[float, int]]:
    """{tensor name: (scale, zero_point)} of the subgraph's inputs and outputs (0.0 when float)."""
    import tflite

    model = tflite.Model.GetRootAsModel(bytearray(data), 0)
    sg = model.Subgraphs(0)
    out = {}
    for idx in list(sg.InputsAsNumpy()) + list(sg.OutputsAsNumpy()):
        t = sg.Tensors(int(idx))
        q = t.Quantization()
        name = t.Name().decode()
        if q is not None and q.ScaleLength() == 1:
            out[name] = (float(q.Scale(0)), int(q.ZeroPoint(0)) if q.ZeroPointLength() else 0)
        else:
            out[name] = (0.0, 0)
    return out


def tflite_quant(data: bytes) -> Tuple[Tuple[float, int], List[Tuple[float, int]]]:
    """(input quantization, [output quantization]) of a .tflite model in subgraph order, which
    the OpenVINO TFLite frontend keeps: what the IR no longer records."""
    import tflite

    quant = _tflite_quant(data)
    sg = tflite.Model.GetRootAsModel(bytearray(data), 0).Subgraphs(0)

    def name(index: Any) -> str:
        return str(sg.Tensors(int(index)).Name().decode())

    inputs = [quant[name(i)] for i in sg.InputsAsNumpy()]
    outputs = [quant[name(i)] for i in sg.OutputsAsNumpy()]
    return (inputs[0] if len(inputs) == 1 else (0.0, 0)), outputs


def convert(source: Union[str, "os.PathLike[str]", bytes], name: str = "model") -> Tuple[bytes, bytes, Optional[Dict[str, Any]]]:
    """-> (IR xml bytes, weights bytes, SSD postprocess options or None).

    source: a path (.tflite, .onnx, .xml with its .bin beside it) or the bytes of a .tflite.
    """
    r = convert_full(source, name)
    return r["xml"], r["weights"], r["ssd"]


def convert_full(source: Union[str, "os.PathLike[str]", bytes], name: str = "model", *, _ssd_extension: bool = True) -> Dict[str, Any]:
    """convert() plus the TFLite quantization the IR no longer records:
    {"xml", "weights", "ssd", "input_quant": (scale, zp), "output_quant": [(scale, zp) per IR output]}.
    Pass input_quant/output_quant to openvino_compile so describe_*() report them."""
    import openvino as ov

    data: Optional[bytes]
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, suffix = bytes(source), ".tflite"
        label = name
        path = Path(name)
    else:
        path = Path(source)
        suffix = path.suffix.lower()
        data = path.read_bytes() if suffix in (".tflite", ".onnx") else None
        label = str(path)
    if data is not None and EDGETPU_MARKER in data:
        raise ModelError(f"{label} is compiled for the Edge TPU ({EDGETPU_MARKER.decode()}): it needs an Edge TPU; "
                         "use the CPU version of the model with OpenVINO")

    core = ov.Core()
    ssd = None
    with tempfile.TemporaryDirectory(prefix="sc_ov_") as tmp:
        try:
            if suffix == ".tflite":
                assert data is not None
                ssd = read_ssd_options(data)
                if ssd is not None and _ssd_extension:
                    core.add_extension(_postprocess_extension())
                src = Path(tmp) / f"{name}.tflite"  # the TFLite frontend reads files
                src.write_bytes(data)
                model = core.read_model(str(src))
            elif suffix == ".onnx":
                model = core.read_model(str(source))
            elif suffix == ".xml":
                bin_path = path.with_suffix(".bin")
                model = core.read_model(str(path), str(bin_path) if bin_path.exists() else None)
            else:
                raise ModelError(f"{label}: unsupported model format {suffix!r} (.tflite, .onnx, .xml+.bin)")
        except ModelError:
            raise
        except Exception as e:  # frontend failures
            msg = str(e)
            m = _UNCONVERTIBLE.search(msg)
            if m:
                raise ModelError(f"{label}: OpenVINO cannot convert the op {m.group(1)}") from None
            raise ModelError(f"{label}: OpenVINO could not read the model: {msg.strip().splitlines()[-1]}") from None
        quant = _tflite_quant(data) if suffix == ".tflite" and data is not None else {}
        input_quant = next((quant[n] for n in model.inputs[0].get_names() if n in quant), (0.0, 0)) \
            if len(model.inputs) == 1 else (0.0, 0)
        output_quant = [next((quant[n] for n in o.get_names() if n in quant), (0.0, 0)) for o in model.outputs]
        xml_path, bin_path = Path(tmp) / "m.xml", Path(tmp) / "m.bin"
        ov.serialize(model, str(xml_path), str(bin_path))  # no fp16 compression (save_model would)
        xml, weights = xml_path.read_bytes(), bin_path.read_bytes() if bin_path.exists() else b""
    return {"xml": xml, "weights": weights, "ssd": ssd, "input_quant": input_quant, "output_quant": output_quant}
