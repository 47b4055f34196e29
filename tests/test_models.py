"""The synthetic models load and run in tflite_runtime and behave as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest
import tflite
from flatbuffers import flexbuffers
from numpy.typing import NDArray
from tflite.utils import BUILTIN_OPCODE2NAME
from tests.reference import Interpreter

from streamcore.errors import ModelError
from streamcore.tools.synthetic import (
    cached_path,
    mobilenet_v2,
    non_image_model,
    tiny_classifier,
    tiny_detector,
    tiny_pose,
    tiny_segmenter,
    write,
)
from streamcore.tools.synthetic.__main__ import main as cli_main

REPO_ROOT = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    return Path(os.environ.get("STREAMCORE_TEST_DATA") or REPO_ROOT.parent / "shared" / "data")


def _interpreter(model: bytes) -> Interpreter:
    interpreter = Interpreter(model_content=model, num_threads=1)
    interpreter.allocate_tensors()
    return interpreter


def _run(interpreter: Interpreter, array: NDArray[Any]) -> List[NDArray[Any]]:
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], array)
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()]


def _describe(model: bytes) -> List[Tuple[Any, ...]]:
    """Per operator: type, input/output shapes and the layout-relevant options."""
    m = tflite.Model.GetRootAsModel(model, 0)
    graph = m.Subgraphs(0)
    ops: List[Tuple[Any, ...]] = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = m.OperatorCodes(op.OpcodeIndex())
        name = BUILTIN_OPCODE2NAME[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        shapes = [tuple(graph.Tensors(t).ShapeAsNumpy().tolist()) for t in op.InputsAsNumpy()]
        shapes += [tuple(graph.Tensors(t).ShapeAsNumpy().tolist()) for t in op.OutputsAsNumpy()]
        table = op.BuiltinOptions()
        details: Tuple[Any, ...] = ()
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"):
            cls = {"CONV_2D": tflite.Conv2DOptions, "DEPTHWISE_CONV_2D": tflite.DepthwiseConv2DOptions,
                   "AVERAGE_POOL_2D": tflite.Pool2DOptions}[name]
            o = cls()
            o.Init(table.Bytes, table.Pos)
            details = (o.Padding(), o.StrideH(), o.StrideW(), o.FusedActivationFunction())
        ops.append((name, tuple(shapes), details))
    return ops


def _custom_options(model: bytes) -> Dict[str, Any]:
    m = tflite.Model.GetRootAsModel(model, 0)
    graph = m.Subgraphs(0)
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        if m.OperatorCodes(op.OpcodeIndex()).CustomCode() == b"TFLite_Detection_PostProcess":
            loaded: Dict[str, Any] = flexbuffers.Loads(bytes(op.CustomOptionsAsNumpy()))
            return loaded
    raise AssertionError("no TFLite_Detection_PostProcess operator")


# ---------------------------------------------------------------- mobilenet_v2


@pytest.fixture(scope="module")
def mobilenet() -> bytes:
    return mobilenet_v2()


def test_mobilenet_v2_io_details(mobilenet: bytes) -> None:
    interpreter = _interpreter(mobilenet)
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert inp["shape"].tolist() == [1, 224, 224, 3] and inp["dtype"] == np.uint8
    assert inp["quantization"] == (0.0078125, 128)
    assert out["shape"].tolist() == [1, 1001] and out["dtype"] == np.uint8
    assert out["quantization"] == (1.0 / 256.0, 0)


def test_mobilenet_v2_mirrors_the_real_model(mobilenet: bytes) -> None:
    real_path = _data_dir() / "models" / "mobilenet_v2_1.0_224_quant.tflite"
    if not real_path.is_file():
        pytest.skip(f"{real_path} not found: set STREAMCORE_TEST_DATA to the shared test data folder")
    real = real_path.read_bytes()
    synthetic_ops, real_ops = _describe(mobilenet), _describe(real)
    assert [op[0] for op in synthetic_ops] == [op[0] for op in real_ops]
    assert synthetic_ops == real_ops
    # Same weight volume, so the same memory traffic.
    assert abs(len(mobilenet) - len(real)) / len(real) < 0.01


def test_mobilenet_v2_outputs_follow_the_input(mobilenet: bytes) -> None:
    interpreter = _interpreter(mobilenet)
    rng = np.random.default_rng(7)
    gradient = np.broadcast_to(np.linspace(0, 255, 224, dtype=np.uint8)[None, :, None], (224, 224, 3))
    noise = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
    first = _run(interpreter, np.ascontiguousarray(gradient)[None])[0]
    second = _run(interpreter, noise[None])[0]
    again = _run(interpreter, noise[None])[0]
    assert np.array_equal(second, again)
    assert np.abs(first.astype(int) - second.astype(int)).sum() > 50
    for probabilities in (first, second):
        # A softmax that neither collapsed onto one class nor flattened to zeros.
        assert 200 <= int(probabilities.sum()) <= 300
        assert probabilities.max() < 255 and np.count_nonzero(probabilities) >= 5


def test_mobilenet_v2_is_deterministic_per_seed(mobilenet: bytes) -> None:
    assert mobilenet_v2(seed=0) == mobilenet
    assert mobilenet_v2(seed=1) != mobilenet


def test_mobilenet_v2_num_classes() -> None:
    interpreter = _interpreter(mobilenet_v2(num_classes=10))
    assert interpreter.get_output_details()[0]["shape"].tolist() == [1, 10]
    with pytest.raises(ModelError):
        mobilenet_v2(num_classes=1)


# ---------------------------------------------------------------- tiny_classifier

_EXPECTED_QUANT = {"uint8": (1.0 / 128.0, 128), "int8": (1.0 / 128.0, 0), "float32": (0.0, 0)}


def _frames(shape: Tuple[int, int, int], dtype: str) -> Tuple[NDArray[Any], NDArray[Any]]:
    """Two different frames with the same overall brightness: bright left half vs bright top half."""
    height, width, channels = shape
    low, high = {"uint8": (20, 235), "int8": (-100, 100), "float32": (-0.8, 0.8)}[dtype]
    left = np.full(shape, low, dtype=dtype)
    left[:, : max(1, width // 2)] = high
    top = np.full(shape, low, dtype=dtype)
    top[: max(1, height // 2)] = high
    if height == 1 and width == 1:
        top[..., 0] = low
    return left[None], top[None]


@pytest.mark.parametrize("dtype", ["uint8", "int8", "float32"])
@pytest.mark.parametrize("shape", [(32, 32, 3), (224, 224, 3), (7, 13, 1), (48, 64, 4), (1, 1, 3)])
def test_tiny_classifier(shape: Tuple[int, int, int], dtype: str) -> None:
    interpreter = _interpreter(tiny_classifier(shape, num_classes=6, dtype=dtype))
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert inp["shape"].tolist() == [1, *shape] and inp["dtype"] == np.dtype(dtype)
    assert inp["quantization"] == _EXPECTED_QUANT[dtype]
    assert out["shape"].tolist() == [1, 6] and out["dtype"] == np.dtype(dtype)
    first, second = _frames(shape, dtype)
    a, b, a_again = (_run(interpreter, frame)[0] for frame in (first, second, first))
    assert np.array_equal(a, a_again)
    assert not np.array_equal(a, b)


def test_tiny_classifier_is_deterministic_per_seed() -> None:
    assert tiny_classifier(seed=3) == tiny_classifier(seed=3)
    assert tiny_classifier(seed=3) != tiny_classifier(seed=4)


@pytest.mark.parametrize(
    "kwargs", [{"dtype": "int16"}, {"input_shape": (32, 32)}, {"input_shape": (0, 4, 3)}, {"num_classes": 1}]
)
def test_tiny_classifier_rejects_bad_arguments(kwargs: Dict[str, Any]) -> None:
    with pytest.raises(ModelError):
        tiny_classifier(**kwargs)


# ---------------------------------------------------------------- tiny_detector


def _detect(interpreter: Interpreter, image: NDArray[Any]) -> Tuple[NDArray[Any], ...]:
    boxes, classes, scores, count = _run(interpreter, image[None])
    return boxes[0], classes[0], scores[0], count


def test_tiny_detector_io_details() -> None:
    model = tiny_detector(max_detections=7)
    interpreter = _interpreter(model)
    (inp,) = interpreter.get_input_details()
    assert inp["shape"].tolist() == [1, 64, 64, 3] and inp["dtype"] == np.uint8
    assert inp["quantization"] == (0.0078125, 128)
    outputs = interpreter.get_output_details()
    assert [o["shape"].tolist() for o in outputs] == [[1, 7, 4], [1, 7], [1, 7], [1]]
    assert all(o["dtype"] == np.float32 for o in outputs)
    opts = _custom_options(model)
    assert opts["max_detections"] == 7 and opts["num_classes"] == 3 and opts["use_regular_nms"] is False
    assert {"max_classes_per_detection", "nms_score_threshold", "nms_iou_threshold",
            "y_scale", "x_scale", "h_scale", "w_scale"} <= set(opts)


@pytest.mark.parametrize(
    "size, rect, channel",
    [
        # (height, width), (y0, x0, y1, x1) in pixels, lit colour channel
        ((64, 64), (16, 8, 40, 56), 0),
        ((64, 64), (0, 40, 8, 64), 1),
        ((96, 128), (36, 16, 96, 80), 2),
        ((64, 64), (0, 0, 64, 64), 0),
    ],
)
def test_tiny_detector_finds_a_grid_aligned_rectangle_exactly(
    size: Tuple[int, int], rect: Tuple[int, int, int, int], channel: int
) -> None:
    interpreter = _interpreter(tiny_detector(input_size=size))
    image = np.zeros((*size, 3), np.uint8)
    y0, x0, y1, x1 = rect
    image[y0:y1, x0:x1, channel] = 255
    boxes, classes, scores, count = _detect(interpreter, image)
    expected = np.array([y0 / size[0], x0 / size[1], y1 / size[0], x1 / size[1]])
    assert count[0] >= 1
    assert np.allclose(boxes[0], expected, atol=1e-5)
    assert classes[0] == channel
    assert scores[0] > 0.95 and scores[0] == scores.max()


def test_tiny_detector_tracks_an_unaligned_rectangle_within_a_cell() -> None:
    size = 80
    interpreter = _interpreter(tiny_detector(input_size=(size, size)))
    cell = 1.0 / 8
    for y0, x0, y1, x1 in [(13, 21, 45, 30), (3, 50, 33, 77), (44, 2, 71, 60)]:
        image = np.full((size, size, 3), 10, np.uint8)
        image[y0:y1, x0:x1] = 240
        boxes, _, scores, _ = _detect(interpreter, image)
        expected = np.array([y0, x0, y1, x1]) / size
        assert np.abs(boxes[0] - expected).max() <= cell, (boxes[0], expected)
        assert scores[0] > 0.5


def test_tiny_detector_scores_low_without_objects_and_ignores_seed() -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    image[8:24, 40:56, 1] = 255
    a = _detect(_interpreter(tiny_detector(seed=0)), image)
    b = _detect(_interpreter(tiny_detector(seed=5)), image)
    assert np.allclose(a[0][0], b[0][0]) and a[1][0] == b[1][0] and np.isclose(a[2][0], b[2][0])
    _, _, scores, _ = _detect(_interpreter(tiny_detector()), np.zeros((64, 64, 3), np.uint8))
    assert scores.max() < 0.05


def test_tiny_detector_rejects_sizes_off_the_grid() -> None:
    with pytest.raises(ModelError):
        tiny_detector(input_size=(60, 64))


# ---------------------------------------------------------------- non_image_model


def test_non_image_model_has_a_rank_two_input() -> None:
    interpreter = _interpreter(non_image_model())
    (inp,) = interpreter.get_input_details()
    assert inp["shape"].tolist() == [1, 10] and inp["dtype"] == np.float32
    a = _run(interpreter, np.ones((1, 10), np.float32))[0]
    b = _run(interpreter, np.linspace(-1, 1, 10, dtype=np.float32)[None])[0]
    assert a.shape == (1, 3) and not np.allclose(a, b)


# ---------------------------------------------------------------- files, cache and CLI


def test_write_returns_the_path(tmp_path: Path) -> None:
    model = non_image_model()
    path = write(model, tmp_path / "sub" / "m.tflite")
    assert path == tmp_path / "sub" / "m.tflite" and path.read_bytes() == model
    assert [p.name for p in path.parent.iterdir()] == ["m.tflite"]


def test_cached_path_builds_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMCORE_CACHE_DIR", str(tmp_path / "cache"))
    calls: List[int] = []

    def build() -> bytes:
        calls.append(1)
        return tiny_classifier()

    first = cached_path("tiny-seed0", build)
    second = cached_path("tiny-seed0", build)
    assert first == second and len(calls) == 1
    assert (tmp_path / "cache") in first.parents and first.read_bytes() == tiny_classifier()
    _interpreter(first.read_bytes())
    with pytest.raises(ModelError):
        cached_path("../escape", build)


def test_cache_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMCORE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = cached_path("nonimage", non_image_model)
    assert path.parent.parent == tmp_path / "streamcore"


def test_cli_writes_a_loadable_model(tmp_path: Path) -> None:
    out = tmp_path / "det.tflite"
    assert cli_main(["tiny_detector", str(out), "--input-size", "32,48", "--max-detections", "4"]) == 0
    interpreter = _interpreter(out.read_bytes())
    assert interpreter.get_input_details()[0]["shape"].tolist() == [1, 32, 48, 3]
    with pytest.raises(SystemExit):
        cli_main(["non_image_model", str(tmp_path / "x.tflite"), "--seed", "1"])


def test_cli_runs_as_a_module(tmp_path: Path) -> None:
    out = tmp_path / "cls.tflite"
    subprocess.run(
        [sys.executable, "-m", "streamcore.models", "tiny_classifier", str(out), "--input-shape", "16,16,1",
         "--dtype", "int8", "--num-classes", "4"],
        check=True, cwd=REPO_ROOT, capture_output=True,
    )
    details = _interpreter(out.read_bytes()).get_output_details()[0]
    assert details["shape"].tolist() == [1, 4] and details["dtype"] == np.int8


def test_tiny_segmenter_class_is_the_brightest_channel_of_each_cell() -> None:
    image = np.zeros((1, 32, 32, 3), np.uint8)
    image[0, :, :, 2] = 200  # blue
    image[0, 8:16, 0:12, 0] = 255  # red over cells (2..3, 0..2)
    image[0, 24:32, 28:32, 1] = 255  # green over cells (6..7, 7)
    expected = np.full((8, 8), 2)
    expected[2:4, 0:3] = 0
    expected[6:8, 7] = 1
    for argmax in (False, True):
        interpreter = _interpreter(tiny_segmenter((32, 32), 4, argmax))
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
        interpreter.invoke()
        out = interpreter.get_output_details()[0]
        got = interpreter.get_tensor(out["index"])
        if argmax:
            assert out["dtype"] == np.int64 and got.shape == (1, 8, 8)
            assert np.array_equal(got[0], expected)
        else:
            assert out["dtype"] == np.uint8 and got.shape == (1, 8, 8, 3)
            assert np.array_equal(np.argmax(got[0], axis=-1), expected)
    with pytest.raises(ModelError):
        tiny_segmenter((30, 32), 4)


def test_tiny_pose_has_movenet_single_pose_output() -> None:
    interpreter = _interpreter(tiny_pose((48, 64)))
    out = interpreter.get_output_details()[0]
    assert interpreter.get_input_details()[0]["shape"].tolist() == [1, 48, 64, 3]
    assert out["shape"].tolist() == [1, 1, 17, 3] and out["dtype"] == np.float32
    values = []
    for level in (0, 255):
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.full((1, 48, 64, 3), level, np.uint8))
        interpreter.invoke()
        values.append(interpreter.get_tensor(out["index"]).copy())
    assert all(((v > 0) & (v < 1)).all() for v in values) and not np.allclose(values[0], values[1])


def test_cli_writes_the_dense_models(tmp_path: Path) -> None:
    seg = tmp_path / "seg.tflite"
    assert cli_main(["tiny_segmenter", str(seg), "--input-size", "16,24", "--argmax"]) == 0
    assert _interpreter(seg.read_bytes()).get_output_details()[0]["shape"].tolist() == [1, 4, 6]
    pose = tmp_path / "pose.tflite"
    assert cli_main(["tiny_pose", str(pose)]) == 0
    assert _interpreter(pose.read_bytes()).get_output_details()[0]["shape"].tolist() == [1, 1, 17, 3]
