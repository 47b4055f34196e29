"""A model with a custom op no runtime resolves is refused before any backend builds it, with
a ModelError naming the op and what would run it (not "applying the XNNPACK delegate failed")."""

from __future__ import annotations

from typing import List

import numpy as np
import pytest

from streamcore import BackendUnavailableError, Engine, Model, ModelError, models
from streamcore.engine.model_check import unresolved_custom_ops
from streamcore.models import GraphBuilder, Quantization
from streamcore.tools.synthetic import options


def with_custom_ops(*ops: str) -> bytes:
    """uint8 [1, 16, 16, 3] -> AVERAGE_POOL_2D -> each custom op in turn -> float32 [1, 4, 4, 3]."""
    g = GraphBuilder("streamcore custom-op test model")
    q = Quantization.per_tensor(1 / 128, 128)
    image = g.tensor("input", (1, 16, 16, 3), "uint8", q)
    x = g.tensor("pool", (1, 4, 4, 3), "uint8", q)
    g.operator("AVERAGE_POOL_2D", [image], [x], options.pool_2d((4, 4), (4, 4), "valid"))
    for i, op in enumerate(ops):
        y = g.tensor(f"custom{i}", (1, 4, 4, 3), "float32")
        g.custom_operator(op, [x], [y])
        x = y
    return g.build([image], [x])


def test_custom_ops_are_listed() -> None:
    assert Model(with_custom_ops("PosenetDecoderOp")).custom_ops == ["PosenetDecoderOp"]
    assert Model(models.tiny_detector()).custom_ops == ["TFLite_Detection_PostProcess"]
    assert Model(models.edgetpu_classifier()).custom_ops == ["edgetpu-custom-op"]
    assert Model(models.tiny_classifier()).custom_ops == []


def test_resolved_ops_pass() -> None:
    for ops in ([], ["TFLite_Detection_PostProcess"], ["edgetpu-custom-op", "TFLite_Detection_PostProcess"]):
        assert unresolved_custom_ops(ops, "m") is None


@pytest.mark.parametrize("device", ["tflite:cpu:1", "litert:cpu:1", "openvino:CPU", "sim:1"])
async def test_posenet_decoder_is_named_before_building(device: str) -> None:
    model = Model(with_custom_ops("PosenetDecoderOp"), name="posenet_decoder.tflite")
    try:
        with pytest.raises(ModelError) as caught:
            async with Engine(model, devices=device) as engine:
                await engine.infer(np.zeros((16, 16, 3), np.uint8))
    except BackendUnavailableError as e:
        pytest.skip(str(e))
    message = str(caught.value)
    assert "posenet_decoder.tflite" in message and "'PosenetDecoderOp'" in message
    assert "coral::RegisterPosenetDecoderOp" in message and "posenet_decoder.so" in message  # what runs it
    assert "Pose()" in message  # what to do instead
    assert "XNNPACK" not in message


def test_an_edgetpu_model_with_the_decoder_is_refused_too() -> None:
    # Coral's posenet *_decoder_edgetpu.tflite models hold both ops
    why = unresolved_custom_ops(["edgetpu-custom-op", "PosenetDecoderOp"], "m_edgetpu.tflite")
    assert why is not None and "uses the custom op 'PosenetDecoderOp', which" in why


async def test_unknown_and_flex_ops_say_what_would_run_them() -> None:
    model = Model(with_custom_ops("MyVendorNms", "FlexAddV2"), name="m.tflite")
    with pytest.raises(ModelError) as caught:
        async with Engine(model, devices="cpu:1"):
            pass
    message = str(caught.value)
    assert "custom ops 'MyVendorNms', 'FlexAddV2'" in message
    assert "registers 'MyVendorNms'" in message and "AddCustom" in message
    assert "Flex delegate" in message and "builtin ops only" in message


def test_mediapipe_ops_are_named_as_mediapipe_kernels() -> None:
    why = unresolved_custom_ops(["Convolution2DTransposeBias"], "selfie.tflite")
    assert why is not None and "MediaPipe" in why


def used(ops: List[str]) -> List[str]:
    return Model(with_custom_ops(*ops)).custom_ops


def test_each_op_is_listed_once_in_first_use_order() -> None:
    assert used(["B", "A", "B"]) == ["B", "A"]
