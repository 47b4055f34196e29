"""The openvino backend's other model formats: OpenVINO IR (.xml + .bin) and ONNX, through
the same native path as .tflite; and the other backends refusing them with a reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamcore import Classify, Engine, ModelError, read_labels
from streamcore.backends import registry
from streamcore.sources.images import load_image

pytestmark = pytest.mark.skipif(
    registry.get("openvino").unavailable() is not None,
    reason=f"openvino backend: {registry.get('openvino').unavailable()}",
)


def _mean_colour_onnx(path: Path, size: int = 32) -> Path:
    """uint8 [1, size, size, 3] NHWC image in, its mean colour [1, 3] float32 out."""
    onnx = pytest.importorskip("onnx")
    helper, TensorProto = onnx.helper, onnx.TensorProto
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["image"], ["real"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["real", "axes"], ["mean"], keepdims=0),
        ],
        "mean_colour",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, [1, size, size, 3])],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor("axes", TensorProto.INT64, [2], [1, 2])],
    )
    model: Any = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


async def test_an_onnx_model_runs_on_openvino(tmp_path: Path) -> None:
    path = _mean_colour_onnx(tmp_path / "mean.onnx")
    frame = np.empty((120, 160, 3), np.uint8)
    frame[:] = (10, 200, 90)
    async with Engine(path, devices="openvino:CPU") as engine:
        result = await engine.infer(frame)
        assert result.device == "ov-cpu0"
    assert result.outputs[0].shape == (1, 3) and result.outputs[0].dtype == np.float32
    np.testing.assert_allclose(result.outputs[0][0], [10, 200, 90], atol=1.0)


@pytest.mark.parametrize("devices", ["tflite:cpu", "litert:cpu"])
async def test_other_backends_refuse_an_onnx_model_naming_openvino(tmp_path: Path, devices: str) -> None:
    if registry.get(devices.split(":")[0]).unavailable():
        pytest.skip(f"{devices}: not installed here")
    path = _mean_colour_onnx(tmp_path / "mean.onnx")
    with pytest.raises(ModelError, match="onnx model.*openvino"):
        async with Engine(path, devices=devices):
            pass


async def test_openvino_ir_runs_with_the_published_answer(shared_data: Path, tmp_path: Path) -> None:
    ov = pytest.importorskip("openvino")
    core = ov.Core()
    model = core.read_model(str(shared_data / "models" / "mobilenet_v2_1.0_224_quant.tflite"))
    xml = tmp_path / "mobilenet_v2.xml"
    ov.save_model(model, str(xml), compress_to_fp16=False)
    assert xml.with_suffix(".bin").is_file()
    labels = read_labels(shared_data / "models" / "imagenet_labels.txt")
    async with Engine(xml, devices="openvino:CPU", adapter=Classify(top_k=1, labels=labels)) as engine:
        result = await engine.infer(load_image(shared_data / "images" / "cat_720p.jpg"))
    assert result.value[0].label == "Egyptian cat"


async def test_an_ir_file_without_its_weights_is_a_model_error(tmp_path: Path) -> None:
    xml = tmp_path / "broken.xml"
    xml.write_text("<net name='x' version='11'><layers></layers></net>")
    with pytest.raises(ModelError):
        async with Engine(xml, devices="openvino:CPU"):
            pass
