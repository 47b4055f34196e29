"""Adapters: label files, top-k classification and SSD postprocess decoding."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import pytest
from numpy.typing import NDArray

from streamcore.adapters import Adapter, Classify, Detect, get_classes, get_objects, read_labels
from streamcore.adapters.detection import OutputLayout, find_layout
from streamcore.errors import InputError, ModelError, StreamcoreError
from streamcore.types import Class, Geometry, Object, Result, TensorInfo, Timings

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("STREAMCORE_TEST_DATA", REPO_ROOT.parent / "shared" / "data"))
MODELS = DATA / "models"


def data_file(name: str) -> Path:
    path = MODELS / name
    if not path.is_file():
        pytest.skip(f"test data {path} is absent (set STREAMCORE_TEST_DATA to the shared data folder)")
    return path


def info(name: str, array: NDArray[Any], index: int = 0, scale: float = 0.0, zero_point: int = 0) -> TensorInfo:
    return TensorInfo(name=name, index=index, shape=tuple(array.shape), dtype=array.dtype,
                      scale=scale, zero_point=zero_point)


def make_result(outputs: Sequence[NDArray[Any]], details: Sequence[TensorInfo],
                geometry: Optional[Geometry] = None) -> Result:
    return Result(outputs=list(outputs), output_details=list(details),
                  geometry=geometry or identity_geometry(), timings=Timings(0.0, 0.0, 0.0, 0.0),
                  device="test")


def identity_geometry(size: int = 300) -> Geometry:
    return Geometry(src_x=0, src_y=0, src_w=size, src_h=size, dst_x=0, dst_y=0, dst_w=size,
                    dst_h=size, frame_w=size, frame_h=size, tensor_w=size, tensor_h=size)


# ---------------------------------------------------------------- labels

def test_real_imagenet_labels_id_format() -> None:
    labels = read_labels(data_file("imagenet_labels.txt"))
    assert len(labels) == 1001
    assert labels[0] == "background"
    assert labels[3] == "great white shark, white shark, man-eater, man-eating shark, Carcharodon carcharias"
    assert (labels[88], labels[89]) == ("African grey, African gray, Psittacus erithacus", "macaw")
    assert labels[1000] == "toilet tissue, toilet paper, bathroom tissue"


def test_real_inat_bird_labels() -> None:
    labels = read_labels(data_file("inat_bird_labels.txt"))
    assert len(labels) == 965
    assert labels[923] == "Ara macao (Scarlet Macaw)"
    assert labels[964] == "background"


def test_real_coco_labels_one_per_line_with_placeholders() -> None:
    path = data_file("coco_labels.txt")
    labels = read_labels(path)
    assert len(labels) == 90
    assert (labels[0], labels[2], labels[11], labels[12]) == ("person", "car", "n/a", "stop sign")
    skipped = read_labels(path, skip_placeholders=True)
    assert 11 not in skipped and skipped[12] == "stop sign"
    assert len(skipped) == len(labels) - sum(1 for v in labels.values() if v == "n/a") < 90


def test_id_format_separators_order_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_bytes("\ufeff  7\ttiger\r\n2:cat\r\n\r\n10 :  great white shark  \r\n0  background".encode())
    assert read_labels(path) == {7: "tiger", 2: "cat", 10: "great white shark", 0: "background"}


def test_one_per_line_format_counts_blank_lines_as_gaps(tmp_path: Path) -> None:
    path = tmp_path / "plain.txt"
    path.write_text("person\nbicycle\n\nn/a\n3d printer\n\n\n", encoding="utf-8")
    assert read_labels(path) == {0: "person", 1: "bicycle", 3: "n/a", 4: "3d printer"}
    assert read_labels(str(path), skip_placeholders=True) == {0: "person", 1: "bicycle", 4: "3d printer"}


def test_mixed_lines_fall_back_to_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "mixed.txt"
    path.write_text("1 euro coin\nbanknote\n", encoding="utf-8")
    assert read_labels(path) == {0: "1 euro coin", 1: "banknote"}


def test_missing_label_file_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(ModelError, match="nope.txt.*not found.*pass") as caught:
        read_labels(missing)
    assert isinstance(caught.value, StreamcoreError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("content", [b"", b"\n  \n\t\n"])
def test_empty_label_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="is empty.*one label per line"):
        read_labels(path)


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00", b"TFL3\x00\x00\x00\x00abc"])
def test_binary_label_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="model rather than its labels"):
        read_labels(path)


def test_duplicate_ids_and_directory(tmp_path: Path) -> None:
    path = tmp_path / "dup.txt"
    path.write_text("0 a\n1 b\n1 c\n", encoding="utf-8")
    with pytest.raises(ModelError, match="class id 1 twice"):
        read_labels(path)
    with pytest.raises(ModelError, match="is a directory"):
        read_labels(tmp_path)


# ---------------------------------------------------------------- classification

def reference_top_k(scores: NDArray[Any], top_k: int, threshold: float) -> List[Tuple[int, float]]:
    ranked = sorted(((i, float(s)) for i, s in enumerate(scores) if s >= threshold),
                    key=lambda pair: (-pair[1], pair[0]))
    return ranked[:top_k]


def test_get_classes_top_k_sorted() -> None:
    scores = np.array([[0.1, 0.7, 0.05, 0.9, 0.3]], dtype=np.float32)
    classes = get_classes(scores, top_k=3, threshold=0.0)
    assert [c.id for c in classes] == [3, 1, 4]
    assert classes[0].score == pytest.approx(0.9)
    assert all(c.label is None for c in classes)


def test_get_classes_threshold_is_inclusive() -> None:
    scores = np.array([0.25, 0.5, 0.75, 0.5], dtype=np.float32)
    assert [c.id for c in get_classes(scores, top_k=10, threshold=0.5)] == [2, 1, 3]
    assert get_classes(scores, top_k=10, threshold=0.8) == []


def test_get_classes_ties_by_lower_id_across_top_k_boundary() -> None:
    scores = np.zeros(20, dtype=np.uint8)
    scores[[15, 3, 9, 12, 1]] = 7  # five-way tie, only three fit next to the single best
    scores[18] = 9
    assert [c.id for c in get_classes(scores, top_k=4, threshold=1)] == [18, 1, 3, 9]


def test_get_classes_matches_a_full_sort_on_large_inputs() -> None:
    rng = np.random.default_rng(7)
    for dtype in (np.uint8, np.float32):
        scores = rng.integers(0, 40, size=5000).astype(dtype)  # many ties
        for top_k, threshold in ((1, 0.0), (5, 0.0), (64, 20.0), (6000, 35.0)):
            got = [(c.id, c.score) for c in get_classes(scores, top_k=top_k, threshold=threshold)]
            assert got == reference_top_k(scores, top_k, threshold)


def test_get_classes_skips_nan_and_attaches_labels() -> None:
    scores = np.array([np.nan, 0.2, 0.6], dtype=np.float32)
    classes = get_classes(scores, top_k=3, threshold=0.0, labels={2: "two"})
    assert [(c.id, c.label) for c in classes] == [(2, "two"), (1, None)]


@pytest.mark.parametrize("top_k", [0, -1, True, 2.5])
def test_bad_top_k(top_k: Any) -> None:
    with pytest.raises(InputError, match="top_k"):
        get_classes(np.ones(3), top_k=top_k)
    with pytest.raises(InputError, match="top_k"):
        Classify(top_k=top_k)


def test_classify_dequantizes_uint8() -> None:
    raw = np.zeros((1, 1001), dtype=np.uint8)
    raw[0, 89], raw[0, 88], raw[0, 5] = 255, 128, 128
    result = make_result([raw], [info("Softmax", raw, scale=0.00390625)])
    classes = Classify(top_k=2, labels={89: "macaw"})(result)
    assert classes == [Class(89, 255 / 256, "macaw"), Class(5, 0.5, None)]


def test_classify_int8_zero_point_and_threshold() -> None:
    raw = np.array([[-128, 0, 127, 10]], dtype=np.int8)
    result = make_result([raw], [info("out", raw, scale=0.5, zero_point=-128)])
    classes = Classify(top_k=5, threshold=64.0)(result)
    assert [(c.id, c.score) for c in classes] == [(2, 127.5), (3, 69.0), (1, 64.0)]


def test_classify_float_output_as_is() -> None:
    raw = np.array([0.125, 0.625, 0.25], dtype=np.float32)
    classes = Classify(top_k=1)(make_result([raw], [info("probs", raw)]))
    assert classes == [Class(1, 0.625, None)]


def test_classify_labels_from_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("zero\none\ntwo\n", encoding="utf-8")
    raw = np.array([[0.1, 0.2, 0.7]], dtype=np.float32)
    assert Classify(top_k=1, labels=path)(make_result([raw], [info("p", raw)]))[0].label == "two"


def test_classify_rejects_detection_outputs() -> None:
    outputs, details = ssd_outputs(tf1_order=True)
    with pytest.raises(ModelError, match=r"shape \[1, 3, 4\].*Detect"):
        Classify()(make_result(outputs, details))


def test_adapters_satisfy_protocol() -> None:
    assert isinstance(Classify(), Adapter) and isinstance(Detect(), Adapter)


# ---------------------------------------------------------------- detection

BOXES = np.array([[[0.25, 0.1, 0.75, 0.5],
                   [0.5, 0.25, 1.0, 0.75],
                   [0.3, 0.2, 0.6, 0.9]]], dtype=np.float32)
CLASSES = np.array([[0.0, 2.0, 17.0]], dtype=np.float32)
SCORES = np.array([[0.875, 0.625, 0.375]], dtype=np.float32)
COUNT = np.array([3.0], dtype=np.float32)
OP = "TFLite_Detection_PostProcess"


def ssd_outputs(tf1_order: bool, names: Optional[Sequence[str]] = None,
                boxes: NDArray[Any] = BOXES, classes: NDArray[Any] = CLASSES,
                scores: NDArray[Any] = SCORES, count: NDArray[Any] = COUNT
                ) -> Tuple[List[NDArray[Any]], List[TensorInfo]]:
    if tf1_order:
        outputs = [boxes, classes, scores, count]
        default_names = [OP, f"{OP}:1", f"{OP}:2", f"{OP}:3"]
    else:
        outputs = [scores, boxes, count, classes]
        default_names = [f"StatefulPartitionedCall:{k}" for k in (1, 3, 0, 2)]
    names = default_names if names is None else names
    return outputs, [info(n, a, index=i) for i, (n, a) in enumerate(zip(names, outputs))]


def boxes_of(objects: Sequence[Object]) -> NDArray[np.float64]:
    return np.array([(o.bbox.xmin, o.bbox.ymin, o.bbox.xmax, o.bbox.ymax) for o in objects], np.float64)


def assert_boxes(objects: Sequence[Object], expected: Sequence[Tuple[float, float, float, float]]) -> None:
    np.testing.assert_allclose(boxes_of(objects), np.array(expected, np.float64), rtol=0, atol=1e-3)


def test_detect_identity_geometry_tf1_names() -> None:
    outputs, details = ssd_outputs(tf1_order=True)
    objects = Detect(threshold=0.5, labels={0: "person", 2: "car"})(make_result(outputs, details))
    assert [(o.id, o.score, o.label) for o in objects] == [(0, 0.875, "person"), (2, 0.625, "car")]
    assert all(isinstance(o.id, int) for o in objects)
    assert_boxes(objects, [(30, 75, 150, 225), (75, 150, 225, 300)])


def test_detect_letterbox_maps_back_and_clips_to_frame() -> None:
    # 600x300 frame letterboxed into 300x300: scale 0.5, image rows 75..225 of the tensor.
    geometry = Geometry(src_x=0, src_y=0, src_w=600, src_h=300, dst_x=0, dst_y=75, dst_w=300,
                        dst_h=150, frame_w=600, frame_h=300, tensor_w=300, tensor_h=300)
    outputs, details = ssd_outputs(tf1_order=True)
    objects = get_objects(outputs, details, geometry, threshold=0.0)
    assert_boxes(objects, [
        (60, 0, 300, 300),        # rows 75..225 -> 0..300
        (150, 150, 450, 300),     # rows 150..300 -> 150..450, clipped to 300
        (120, 30, 540, 210),      # rows 90..180 -> 30..210
    ])


def test_detect_centre_crop() -> None:
    # 640x480 frame, centre 480x480 square scaled onto 300x300: factor 1.6.
    geometry = Geometry(src_x=80, src_y=0, src_w=480, src_h=480, dst_x=0, dst_y=0, dst_w=300,
                        dst_h=300, frame_w=640, frame_h=480, tensor_w=300, tensor_h=300)
    outputs, details = ssd_outputs(tf1_order=True)
    objects = Detect(threshold=0.6)(make_result(outputs, details, geometry))
    assert_boxes(objects, [(128, 120, 320, 360), (200, 240, 440, 480)])


def test_detect_roi_with_letterbox() -> None:
    # ROI (100, 50, 400x200) of a 1280x720 frame letterboxed into 300x300: 0.75 scale, rows 75..225.
    geometry = Geometry(src_x=100, src_y=50, src_w=400, src_h=200, dst_x=0, dst_y=75, dst_w=300,
                        dst_h=150, frame_w=1280, frame_h=720, tensor_w=300, tensor_h=300)
    outputs, details = ssd_outputs(tf1_order=True)
    objects = Detect(threshold=0.0)(make_result(outputs, details, geometry))
    assert_boxes(objects, [
        (140, 50, 300, 250),      # x 30..150 -> 140..300; rows 75..225 -> 50..250
        (200, 150, 400, 250),     # rows 150..300 -> 150..350, clipped to the ROI bottom 250
        (180, 70, 460, 190),      # x 60..270 -> 180..460; rows 90..180 -> 70..190
    ])


def layout_cases() -> List[Tuple[str, bool, Optional[List[str]], OutputLayout]]:
    return [
        ("tf1 op names", True, None, OutputLayout(0, 1, 2, 3)),
        ("tf1 unnamed", True, ["a", "b", "c", "d"], OutputLayout(0, 1, 2, 3)),
        ("tf2 order", False, None, OutputLayout(boxes=1, classes=3, scores=0, count=2)),
        ("tf2 unnamed", False, ["", "", "", ""], OutputLayout(boxes=1, classes=3, scores=0, count=2)),
        # Op names decide even against the order rule: output 0 named ":2" is scores.
        ("op names shuffled", False, [f"{OP}:2", OP, f"{OP}:3", f"{OP}:1"],
         OutputLayout(boxes=1, classes=3, scores=0, count=2)),
        ("keyword names", True, ["detection_boxes", "detection_classes", "detection_scores", "num_detections"],
         OutputLayout(0, 1, 2, 3)),
    ]


@pytest.mark.parametrize("case", layout_cases(), ids=lambda c: c[0])
def test_output_orders_decode_the_same(case: Tuple[str, bool, Optional[List[str]], OutputLayout]) -> None:
    _, tf1_order, names, expected_layout = case
    outputs, details = ssd_outputs(tf1_order, names)
    assert find_layout(outputs, details) == expected_layout
    objects = get_objects(outputs, details, identity_geometry(), threshold=0.3)
    assert [(o.id, o.score) for o in objects] == [(0, 0.875), (2, 0.625), (17, 0.375)]


def test_keyword_names_override_order_rule() -> None:
    # TF1 positions, but the names say output 1 holds scores and output 2 classes.
    outputs = [BOXES, SCORES, CLASSES, COUNT]
    details = [info(n, a, i) for i, (n, a) in
               enumerate(zip(["boxes", "scores", "classes", "count"], outputs))]
    objects = get_objects(outputs, details, identity_geometry(), threshold=0.5)
    assert [(o.id, o.score) for o in objects] == [(0, 0.875), (2, 0.625)]


def test_four_detections_and_one_detection_shapes() -> None:
    # N == 4: classes and scores also end in 4; boxes are the largest such output.
    boxes = np.tile(np.array([0.0, 0.0, 0.5, 0.5], dtype=np.float32), (1, 4, 1))
    classes = np.array([[1, 2, 3, 4]], dtype=np.float32)
    scores = np.array([[0.875, 0.75, 0.625, 0.5]], dtype=np.float32)
    outputs, details = ssd_outputs(False, ["", "", "", ""], boxes, classes, scores, np.array([4.0], np.float32))
    assert [o.id for o in get_objects(outputs, details, identity_geometry(), 0.0)] == [1, 2, 3, 4]
    # N == 1: classes and scores are [1, 1], count is [1].
    outputs, details = ssd_outputs(True, ["", "", "", ""], boxes[:, :1], classes[:, 1:2], scores[:, :1],
                                   np.array([1.0], np.float32))
    assert [(o.id, o.score) for o in get_objects(outputs, details, identity_geometry(), 0.0)] == [(2, 0.875)]


def test_count_limits_rows_and_results_sorted_and_top_k() -> None:
    scores = np.array([[0.5, 0.875, 0.75]], dtype=np.float32)
    outputs, details = ssd_outputs(True, scores=scores, count=np.array([2.0], np.float32))
    objects = get_objects(outputs, details, identity_geometry(), threshold=0.0)
    assert [(o.id, o.score) for o in objects] == [(2, 0.875), (0, 0.5)]
    outputs, details = ssd_outputs(True, scores=scores)
    assert [o.id for o in Detect(threshold=0.0, top_k=2)(make_result(outputs, details))] == [2, 17]


def test_empty_detections() -> None:
    outputs, details = ssd_outputs(True, count=np.array([0.0], np.float32))
    assert Detect(threshold=0.0)(make_result(outputs, details)) == []
    outputs, details = ssd_outputs(True)
    assert Detect(threshold=0.95)(make_result(outputs, details)) == []


def test_quantized_detection_outputs() -> None:
    boxes = np.round(BOXES * 200).astype(np.uint8)     # scale 1/200
    scores = np.round(SCORES * 256).astype(np.uint8)   # scale 1/256
    classes = (CLASSES + 10).astype(np.uint8)          # zero point 10
    count = np.array([3], dtype=np.uint8)
    outputs: List[NDArray[Any]] = [boxes, classes, scores, count]
    details = [info(OP, boxes, 0, 1 / 200), info(f"{OP}:1", classes, 1, 1.0, 10),
               info(f"{OP}:2", scores, 2, 1 / 256), info(f"{OP}:3", count, 3)]
    objects = get_objects(outputs, details, identity_geometry(), threshold=0.5)
    assert [(o.id, o.score) for o in objects] == [(0, 0.875), (2, 0.625)]
    assert_boxes(objects[:1], [(30, 75, 150, 225)])


def test_labels_and_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "coco.txt"
    path.write_text("person\nn/a\ncar\n", encoding="utf-8")
    outputs, details = ssd_outputs(True, classes=np.array([[0.0, 1.0, 2.0]], np.float32))
    objects = Detect(threshold=0.0, labels=path)(make_result(outputs, details))
    assert [o.label for o in objects] == ["person", "n/a", "car"]
    skipping = Detect(threshold=0.0, labels=read_labels(path, skip_placeholders=True))
    assert [o.label for o in skipping(make_result(outputs, details))] == ["person", None, "car"]


def test_classifier_outputs_are_not_ssd() -> None:
    raw = np.zeros((1, 1001), dtype=np.uint8)
    with pytest.raises(ModelError, match="not an SSD postprocess model: it has 1 outputs"):
        Detect()(make_result([raw], [info("Softmax", raw)]))


@pytest.mark.parametrize("bad", ["no boxes", "classes length", "count size", "op names wrong shape"])
def test_bad_detection_shapes(bad: str) -> None:
    if bad == "no boxes":
        outputs, details = ssd_outputs(True, ["", "", "", ""], boxes=BOXES.reshape(1, 3, 2, 2))
    elif bad == "classes length":
        outputs, details = ssd_outputs(True, ["", "", "", ""], classes=CLASSES[:, :2])
    elif bad == "count size":
        outputs, details = ssd_outputs(True, count=np.array([3.0, 3.0], np.float32))
    else:
        outputs, details = ssd_outputs(True, [f"{OP}:1", OP, f"{OP}:2", f"{OP}:3"])
    with pytest.raises(ModelError, match="not an SSD postprocess model"):
        Detect()(make_result(outputs, details))


def test_bad_detect_top_k() -> None:
    with pytest.raises(InputError, match="top_k"):
        Detect(top_k=0)


# ---------------------------------------------------------------- real models

def run_model(model: Path, rgb: NDArray[np.uint8]) -> Result:
    interpreter_module = pytest.importorskip("tflite_runtime.interpreter")
    cv2 = pytest.importorskip("cv2")
    interpreter = interpreter_module.Interpreter(str(model), num_threads=1)
    interpreter.allocate_tensors()
    (input_detail,) = interpreter.get_input_details()
    _, height, width, _ = input_detail["shape"]
    resized = cv2.resize(rgb, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)
    interpreter.set_tensor(input_detail["index"], resized[np.newaxis])
    interpreter.invoke()
    details = [TensorInfo(name=d["name"], index=d["index"], shape=tuple(d["shape"]), dtype=np.dtype(d["dtype"]),
                          scale=float(d["quantization"][0]), zero_point=int(d["quantization"][1]))
               for d in interpreter.get_output_details()]
    outputs = [interpreter.get_tensor(d.index) for d in details]
    frame_h, frame_w = rgb.shape[:2]
    geometry = Geometry(src_x=0, src_y=0, src_w=frame_w, src_h=frame_h, dst_x=0, dst_y=0, dst_w=int(width),
                        dst_h=int(height), frame_w=frame_w, frame_h=frame_h, tensor_w=int(width),
                        tensor_h=int(height))
    return make_result(outputs, details, geometry)


def test_real_classifier_parrot() -> None:
    cv2 = pytest.importorskip("cv2")
    image_path = DATA / "images" / "parrot.jpg"
    if not image_path.is_file():
        pytest.skip(f"test data {image_path} is absent")
    rgb = cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB)
    result = run_model(data_file("mobilenet_v2_1.0_224_quant.tflite"), rgb)
    top = Classify(top_k=3, labels=data_file("imagenet_labels.txt"))(result)
    assert (top[0].id, top[0].label) == (89, "macaw")
    assert top[0].score > 0.9


def test_real_ssd_traffic_frame() -> None:
    av = pytest.importorskip("av")
    video = DATA / "videos" / "traffic_frames.mp4"
    if not video.is_file():
        pytest.skip(f"test data {video} is absent")
    with av.open(str(video)) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    result = run_model(data_file("ssd_mobilenet_v1_coco_quant_postprocess.tflite"), rgb)
    objects = Detect(threshold=0.5, labels=data_file("coco_labels.txt"))(result)
    assert [o.label for o in objects] == ["car", "car"]
    assert [o.score for o in objects] == pytest.approx([0.70, 0.61], abs=0.05)
    for o in objects:
        assert 0 <= o.bbox.xmin < o.bbox.xmax <= 960 and 0 <= o.bbox.ymin < o.bbox.ymax <= 540
