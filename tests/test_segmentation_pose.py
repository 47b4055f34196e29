"""Segment and Pose: both segmentation output styles, masks and keypoints mapped back to frame
pixels (letterbox, crop and ROI undone), class fractions, JSON summaries, and the real DeepLab
and MoveNet models against the shared data README."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import pytest
from numpy.typing import NDArray

from streamcore import (
    BackendUnavailableError, Engine, Keypoint, ModelError, Pose, Segment, Segmentation, get_keypoints, get_mask,
    models, read_labels,
)
from streamcore.adapters.pose import KEYPOINT_NAMES
from streamcore.adapters.segmentation import class_fractions, to_frame_mask
from streamcore.errors import InputError
from streamcore.jsonsafe import dumps
from streamcore.pipeline.records import StreamResult
from streamcore.sources.images import load_image
from streamcore.types import Geometry, Result, TensorInfo, Timings

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def info(array: NDArray[Any], scale: float = 0.0, zero_point: int = 0, name: str = "out") -> TensorInfo:
    return TensorInfo(name=name, index=0, shape=tuple(array.shape), dtype=array.dtype, scale=scale,
                      zero_point=zero_point)


def geometry(frame: Tuple[int, int], tensor: Tuple[int, int], src: Sequence[float],
             dst: Sequence[float]) -> Geometry:
    """frame and tensor as (w, h); src and dst as (x, y, w, h)."""
    (sx, sy, sw, sh), (dx, dy, dw, dh) = (tuple(float(v) for v in r) for r in (src, dst))
    return Geometry(src_x=sx, src_y=sy, src_w=sw, src_h=sh, dst_x=dx, dst_y=dy, dst_w=dw, dst_h=dh,
                    frame_w=frame[0], frame_h=frame[1], tensor_w=tensor[0], tensor_h=tensor[1])


def result(outputs: List[NDArray[Any]], details: Optional[List[TensorInfo]] = None,
           g: Optional[Geometry] = None) -> Result:
    g = g or geometry((8, 8), (8, 8), (0, 0, 8, 8), (0, 0, 8, 8))
    return Result(outputs=outputs, output_details=details if details is not None else [info(o) for o in outputs],
                  geometry=g, timings=Timings(0, 0, 0, 0), device="test")


def painted(width: int, height: int, background: Tuple[int, int, int],
            rects: Sequence[Tuple[int, int, int, int, Tuple[int, int, int]]]) -> NDArray[np.uint8]:
    """An RGB frame of one colour with (x, y, w, h, colour) rectangles."""
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = background
    for x, y, w, h, colour in rects:
        frame[y:y + h, x:x + w] = colour
    return frame


def expected_mask(width: int, height: int, background: int,
                  rects: Sequence[Tuple[int, int, int, int, int]]) -> NDArray[np.uint8]:
    mask = np.full((height, width), background, np.uint8)
    for x, y, w, h, cls in rects:
        mask[y:y + h, x:x + w] = cls
    return mask


# ---------------------------------------------------------------- get_mask: output styles

def test_class_map_is_taken_as_is() -> None:
    out = np.array([[[0, 1], [20, 3]]], np.int64)  # [1, 2, 2], DeepLab's style
    assert get_mask(out).tolist() == [[0, 1], [20, 3]]
    assert get_mask(out[..., np.newaxis]).tolist() == [[0, 1], [20, 3]]  # [1, H, W, 1] int


def test_class_scores_take_the_argmax_lowest_id_on_ties() -> None:
    scores = np.zeros((1, 2, 3, 4), np.float32)
    scores[0, 0, 0, 2] = 5.0
    scores[0, 1, 2, 3] = 1.0
    scores[0, 0, 1] = [1.0, 1.0, 0.5, 0.0]  # tie between 0 and 1
    scores[0, 1, 0, 1] = np.nan  # a NaN score never wins
    scores[0, 1, 0, 3] = -1.0
    assert get_mask(scores).tolist() == [[2, 0, 0], [0, 0, 3]]


def test_quantized_scores_keep_their_order() -> None:
    q = np.array([[[[10, 200, 30], [250, 0, 0]], [[0, 0, 1], [5, 6, 7]]]], np.uint8)
    assert get_mask(q, info(q, scale=0.05, zero_point=128)).tolist() == [[1, 0], [2, 2]]


def test_single_probability_channel_is_thresholded() -> None:
    p = np.array([[[[0.2], [0.7]], [[0.5], [np.nan]]]], np.float32)
    assert get_mask(p).tolist() == [[0, 1], [1, 0]]
    assert get_mask(p, threshold=0.8).tolist() == [[0, 0], [0, 0]]
    q = np.array([[[[0], [255]], [[128], [200]]]], np.uint8)  # real = q / 255
    assert get_mask(q, info(q, scale=1 / 255, zero_point=0)).tolist() == [[0, 1], [1, 1]]


@pytest.mark.parametrize("shape,dtype", [((1, 1001), np.uint8), ((1, 1, 17, 3), np.float32), ((1, 5, 1), np.int64),
                                         ((2, 4, 4), np.int64), ((4,), np.float32)])
def test_outputs_that_are_not_masks_are_refused(shape: Tuple[int, ...], dtype: Any) -> None:
    with pytest.raises(ModelError, match="not a segmentation model"):
        Segment()(result([np.zeros(shape, dtype)]))


def test_negative_class_ids_and_ids_beyond_the_mask_dtype_are_refused() -> None:
    with pytest.raises(ModelError, match="negative"):
        get_mask(np.array([[[0, -1], [1, 2]]], np.int64))
    big = np.array([[[0, 300], [1, 2]]], np.int64)
    with pytest.raises(ModelError, match="num_classes"):
        Segment(labels={0: "a", 1: "b", 2: "c"})(result([big]))  # labels size the mask to uint8
    assert Segment()(result([big])).mask.dtype == np.uint16  # class count unknown: uint16
    assert Segment(num_classes=301)(result([big])).fractions == {0: 0.25, 1: 0.25, 2: 0.25, 300: 0.25}


def test_bad_arguments() -> None:
    with pytest.raises(InputError):
        Segment(num_classes=0)
    with pytest.raises(InputError):
        Segment(output=True)
    out = np.zeros((1, 4, 4), np.int64)
    with pytest.raises(ModelError, match="outputs are"):
        Segment(output="nope")(result([out]))
    with pytest.raises(ModelError, match="does not exist"):
        Segment(output=3)(result([out]))
    with pytest.raises(ModelError, match="no outputs"):
        Segment()(result([]))


def test_output_by_name_or_index() -> None:
    first, second = np.zeros((1, 1001), np.uint8), np.ones((1, 4, 4), np.int64)
    r = result([first, second], [info(first, name="scores"), info(second, name="mask")])
    assert Segment(output="mask")(r).fractions == {1: 1.0}
    assert Segment(output=1)(r).fractions == {1: 1.0}


# ---------------------------------------------------------------- fractions and frame mapping (no model)

def test_fractions_leave_out_the_letterbox_padding() -> None:
    # a 16x8 frame letterboxed into an 8x8 tensor: content rows 2..5
    g = geometry((16, 8), (8, 8), (0, 0, 16, 8), (0, 2, 8, 4))
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, :] = 1
    mask[2:6, :2] = 2
    assert class_fractions(mask, g) == {1: 0.75, 2: 0.25}
    assert class_fractions(mask) == {0: 0.5, 1: 0.375, 2: 0.125}
    # a coarser output grid (4x4 over the 8x8 tensor): content rows 1..2
    assert class_fractions(mask[::2, ::2], g) == {1: 0.75, 2: 0.25}
    with pytest.raises(InputError):
        class_fractions(np.array([[0, -1]]))
    with pytest.raises(InputError):
        class_fractions(np.array([[0.5, 1.0]]))


def test_frame_mask_undoes_roi_and_letterbox() -> None:
    # ROI (4, 2, 16, 8) of a 24x12 frame, letterboxed into 8x8 (content rows 2..5)
    g = geometry((24, 12), (8, 8), (4, 2, 16, 8), (0, 2, 8, 4))
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 4:] = 1  # right half of the content
    frame = to_frame_mask(mask, g, 255)
    assert frame.shape == (12, 24) and frame.dtype == np.uint8
    expected = np.full((12, 24), 255, np.uint8)
    expected[2:10, 4:12] = 0
    expected[2:10, 12:20] = 1
    assert np.array_equal(frame, expected)


def test_frame_mask_of_a_fractional_source_rectangle() -> None:
    # a pixel is inside when its centre (x + 0.5) is in [2.5, 9.5): pixels 2 to 8, whose
    # centres land on tensor x = (x + 0.5 - 2.5) * 4 / 7 = 0, 0.57, 1.14, 1.71, 2.29, 2.86, 3.43
    g = geometry((12, 4), (4, 4), (2.5, 0, 7, 4), (0, 0, 4, 4))
    frame = to_frame_mask(np.arange(4, dtype=np.uint8)[np.newaxis].repeat(4, 0), g, 255)
    assert frame[0].tolist() == [255, 255, 0, 0, 1, 1, 2, 2, 3, 255, 255, 255]


def test_frame_mask_of_a_mirrored_geometry() -> None:
    # columns that descend (a mirrored destination) take the general indexing path
    g = geometry((4, 2), (4, 2), (0, 0, 4, 2), (4, 0, -4, 2))
    mask = np.arange(8, dtype=np.uint8).reshape(2, 4)
    assert to_frame_mask(mask, g, 255).tolist() == [[3, 2, 1, 0], [7, 6, 5, 4]]


# ---------------------------------------------------------------- Segment through an engine (synthetic model)

SEG_CASES = [
    # frame (w, h), engine options, roi, background colour, rects (x, y, w, h, colour), expected background class
    pytest.param((64, 64), {}, None, id="stretch"),
    pytest.param((128, 64), {"fit": "letterbox"}, None, id="letterbox"),
    pytest.param((128, 64), {"fit": "center_crop"}, None, id="center_crop"),
    pytest.param((128, 128), {}, (32, 32, 64, 64), id="roi"),
]


def backends() -> List[Any]:
    return [pytest.param(spec, id=spec.split(":")[0]) for spec in ("tflite:cpu:1", "litert:cpu:1", "openvino:CPU")]


@pytest.mark.parametrize("frame_size,options,roi", SEG_CASES)
@pytest.mark.parametrize("argmax", [False, True], ids=["scores", "argmax"])
async def test_segment_maps_the_mask_to_frame_pixels(frame_size: Tuple[int, int], options: Any,
                                                     roi: Optional[Tuple[int, int, int, int]], argmax: bool) -> None:
    width, height = frame_size
    # Each mask cell (4x4 tensor pixels of 32x32) covers a block of frame pixels: 8 (stretch,
    # crop and this ROI) or 16 (letterbox); rectangles on that grid come back exactly.
    if options.get("fit") == "letterbox":
        rects = [(32, 16, 32, 32, 0), (96, 0, 16, 16, 1)]
        seen = (0, 0, width, height)
    elif options.get("fit") == "center_crop":
        rects = [(40, 8, 16, 24, 0), (8, 0, 16, 16, 1)]  # the second lies outside the central crop
        seen = (32, 0, 64, 64)
    elif roi is not None:
        rects = [(48, 40, 16, 24, 0), (0, 0, 40, 40, 1)]
        seen = roi
    else:
        rects = [(8, 16, 24, 8, 0), (48, 48, 16, 16, 1)]
        seen = (0, 0, width, height)
    colours = {0: RED, 1: GREEN}
    frame = painted(width, height, BLUE, [(x, y, w, h, colours[c]) for x, y, w, h, c in rects])
    model = models.tiny_segmenter((32, 32), 4, argmax)
    labels = {0: "red", 1: "green", 2: "blue"}
    async with Engine(model, devices="cpu:1", adapter=Segment(labels, to_frame=True), **options) as engine:
        r = await engine.infer(frame, roi=roi)
    seg = r.value
    assert isinstance(seg, Segmentation) and seg.in_frame and seg.mask.dtype == np.uint8
    x0, y0, w0, h0 = seen
    expected = np.full((height, width), seg.outside, np.uint8)
    expected[y0:y0 + h0, x0:x0 + w0] = expected_mask(width, height, 2, rects)[y0:y0 + h0, x0:x0 + w0]
    assert np.array_equal(seg.mask, expected)
    # fractions: the share of each class among the frame pixels the model saw
    inside = expected[y0:y0 + h0, x0:x0 + w0]
    assert seg.fractions == pytest.approx({c: float(np.mean(inside == c)) for c in np.unique(inside)})
    assert sum(seg.fractions.values()) == pytest.approx(1.0)
    # the same engine without to_frame gives the model's grid, with the same fractions
    async with Engine(model, devices="cpu:1", adapter=Segment(labels), **options) as engine:
        grid = (await engine.infer(frame, roi=roi)).value
    assert grid.mask.shape == (8, 8) and not grid.in_frame
    assert grid.fractions == seg.fractions


@pytest.mark.parametrize("device", backends())
async def test_both_output_styles_on_every_cpu_backend(device: str) -> None:
    frame = painted(64, 64, GREEN, [(0, 0, 32, 64, RED)])
    for argmax in (False, True):
        try:
            async with Engine(models.tiny_segmenter((32, 32), 4, argmax), devices=device, adapter=Segment()) as e:
                r = await e.infer(frame)
        except BackendUnavailableError as ex:
            pytest.skip(str(ex))
        assert r.outputs[0].dtype == (np.int64 if argmax else np.uint8)
        assert r.value.fractions == {0: 0.5, 1: 0.5}
        assert r.value.mask.tolist() == [[0] * 4 + [1] * 4] * 8


def test_json_summarises_the_mask() -> None:
    mask = np.zeros((1, 64, 64), np.int64)
    mask[0, :16] = 15
    mask[0, 16:, :8] = 22
    seg = Segment(labels={0: "background", 15: "person"}, to_frame=False)(result([mask]))
    assert seg.label_fractions() == {"background": 0.65625, "person": 0.25, "22": 0.09375}
    summary = seg.to_json()
    assert summary == {"mask": {"height": 64, "width": 64, "space": "model"},
                       "classes": [{"id": 0, "label": "background", "fraction": 0.65625},
                                   {"id": 15, "label": "person", "fraction": 0.25},
                                   {"id": 22, "label": None, "fraction": 0.09375}]}
    record = StreamResult(stream="cam", kind="result", index=0, value=seg, result=result([mask]))
    text = dumps(record.to_dict())
    assert len(text) < 1000  # the 4096-pixel mask is not written out
    assert json.loads(text)["value"] == summary


def test_duplicate_labels_are_keyed_by_id() -> None:
    mask = np.array([[[0, 1], [2, 2]]], np.int64)
    seg = Segment(labels={0: "n/a", 1: "n/a", 2: "cat"})(result([mask]))
    assert seg.label_fractions() == {"0": 0.25, "1": 0.25, "cat": 0.5}


# ---------------------------------------------------------------- Pose (no model)

def movenet_output(points: Sequence[Tuple[float, float, float]]) -> NDArray[np.float32]:
    out = np.zeros((1, 1, 17, 3), np.float32)
    out[0, 0, :len(points)] = points
    return out


def test_keypoints_are_named_in_movenet_order() -> None:
    assert KEYPOINT_NAMES[:3] == ("nose", "left_eye", "right_eye")
    assert KEYPOINT_NAMES[5:7] == ("left_shoulder", "right_shoulder")
    assert KEYPOINT_NAMES[-2:] == ("left_ankle", "right_ankle") and len(KEYPOINT_NAMES) == 17


def test_keypoints_undo_letterbox_and_roi() -> None:
    # ROI (100, 50, 200, 100) of a 640x480 frame, letterboxed into 192x192: content rows 48..144
    g = geometry((640, 480), (192, 192), (100, 50, 200, 100), (0, 48, 192, 96))
    out = movenet_output([(0.5, 0.5, 0.9), (48 / 192, 0.0, 0.1), (0.75, 1.0, 0.5), (0.0, 0.25, 0.3)])
    points = Pose()(result([out], g=g))
    assert len(points) == 17 and all(isinstance(p, Keypoint) for p in points)
    assert points[0].name == "nose" and [points[0].x, points[0].y] == pytest.approx([200.0, 100.0])
    assert points[0].score == pytest.approx(0.9)
    assert [points[1].x, points[1].y] == pytest.approx([100.0, 50.0])  # content's top-left
    assert [points[2].x, points[2].y] == pytest.approx([300.0, 150.0])  # bottom-right
    # a point in the letterbox padding is clipped to the ROI, as Detect clips boxes
    assert [points[3].x, points[3].y] == pytest.approx([150.0, 50.0])


def test_quantized_pose_output_is_dequantized() -> None:
    q = np.zeros((1, 1, 17, 3), np.uint8)
    q[0, 0, 0] = (128, 64, 255)
    g = geometry((100, 100), (10, 10), (0, 0, 100, 100), (0, 0, 10, 10))
    nose = get_keypoints(q, g, info(q, scale=1 / 255, zero_point=0))[0]
    assert [nose.y, nose.x, nose.score] == pytest.approx([50.2, 25.1, 1.0], abs=0.01)


def test_pose_refuses_other_models() -> None:
    with pytest.raises(ModelError, match="MoveNet"):
        Pose()(result([np.zeros((1, 1001), np.uint8)]))
    with pytest.raises(ModelError, match="MoveNet"):
        Pose()(result([]))


async def test_pose_through_an_engine_with_the_synthetic_model() -> None:
    frame = painted(96, 64, BLUE, [])
    async with Engine(models.tiny_pose(), devices="cpu:1", adapter=Pose(), fit="letterbox") as engine:
        r = await engine.infer(frame, roi=(16, 8, 64, 48))
    assert [p.name for p in r.value] == list(KEYPOINT_NAMES)
    raw = r.outputs[0].reshape(17, 3)
    for p, (y, x, score) in zip(r.value, raw):
        fx, fy = r.geometry.to_frame(float(x) * 32, float(y) * 32)
        assert p.x == pytest.approx(min(max(fx, 16), 80)) and p.y == pytest.approx(min(max(fy, 8), 56))
        assert p.score == pytest.approx(float(score))


# ---------------------------------------------------------------- the real models (shared data)

# README "Reference results": fraction of the 513x513 mask per class.
DEEPLAB_REFERENCE = {
    "cat_720p.jpg": {"background": 0.567, "cat": 0.433},
    "grace_hopper.bmp": {"background": 0.319, "person": 0.681},
    "parrot.jpg": {"background": 0.745, "bird": 0.255},
}


async def test_deeplab_fractions_match_the_reference(shared_data: Path) -> None:
    labels = read_labels(shared_data / "models" / "pascal_voc_segmentation_labels.txt")
    model = shared_data / "models" / "deeplabv3_mnv2_pascal_quant.tflite"
    async with Engine(model, devices="cpu", adapter=Segment(labels)) as engine:
        for image, reference in DEEPLAB_REFERENCE.items():
            r = await engine.infer(load_image(shared_data / "images" / image))
            assert r.outputs[0].shape == (1, 513, 513) and r.outputs[0].dtype == np.int64  # argmax in the model
            seg = r.value
            assert seg.mask.shape == (513, 513) and seg.mask.dtype == np.uint8
            got = seg.label_fractions()
            assert set(got) == set(reference), (image, got)
            # The resize filter and the chroma path move them: parrot.jpg (yuvj444p) gives bird
            # 0.277 read natively, 0.281 from RGB and 0.264 after a 4:2:0 reformat (ref. 0.255).
            assert got == pytest.approx(reference, abs=0.03), image


async def test_deeplab_mask_in_frame_pixels(shared_data: Path) -> None:
    labels = read_labels(shared_data / "models" / "pascal_voc_segmentation_labels.txt")
    model = shared_data / "models" / "deeplabv3_mnv2_pascal_quant.tflite"
    image = load_image(shared_data / "images" / "grace_hopper.bmp")
    masks = {}
    for fit in ("stretch", "letterbox"):
        async with Engine(model, devices="cpu", adapter=Segment(labels, to_frame=True), fit=fit) as engine:
            seg = (await engine.infer(image)).value
        assert seg.mask.shape == (image.height, image.width) and seg.in_frame
        person = seg.mask == 15
        assert float(np.mean(person)) == pytest.approx(seg.fractions[15], abs=0.01)  # frame pixels agree with the grid
        # the person fills the bottom of the portrait, not the top corners
        assert np.mean(person[-50:, image.width // 3: 2 * image.width // 3]) > 0.9
        assert np.mean(person[:50, :50]) < 0.1
        masks[fit] = person
    assert float(np.mean(masks["stretch"])) == pytest.approx(0.681, abs=0.02)
    # Letterboxed, the model sees the portrait unstretched and finds the same person where it is
    # in the frame (its own answer differs a little: 0.64 of the frame, measured).
    overlap = np.sum(masks["stretch"] & masks["letterbox"]) / np.sum(masks["stretch"] | masks["letterbox"])
    assert overlap > 0.85, overlap


# README: MoveNet on grace_hopper.bmp, (y, x, score) normalized to the image.
MOVENET_REFERENCE = {
    "nose": (0.381, 0.508, 0.25), "right_eye": (0.315, 0.434, 0.70), "left_ear": (0.365, 0.696, 0.70),
    "right_ear": (0.361, 0.336, 0.50), "left_shoulder": (0.717, 0.877, 0.70), "right_shoulder": (0.713, 0.164, 0.50),
}


@pytest.mark.parametrize("fit", ["stretch", "letterbox", "center_crop"])
async def test_movenet_keypoints_match_the_reference(shared_data: Path, fit: str) -> None:
    model = shared_data / "models" / "movenet_single_pose_lightning_ptq.tflite"
    image = load_image(shared_data / "images" / "grace_hopper.bmp")
    async with Engine(model, devices="cpu", adapter=Pose(), fit=fit) as engine:
        points = {p.name: p for p in (await engine.infer(image)).value}
    assert list(points) == list(KEYPOINT_NAMES)
    w, h = image.width, image.height
    for name, (y, x, score) in MOVENET_REFERENCE.items():
        p = points[name]
        # in frame pixels, whatever the fit: within 0.021 of the image size measured for each (a
        # letterbox left undone puts the shoulders 0.056 off, a crop left undone 0.037)
        assert abs(p.x / w - x) < 0.03 and abs(p.y / h - y) < 0.03, (name, p)
        assert 0.0 <= p.score <= 1.0
    # Face scores swing by up to 0.5 with the resize filter (0.12-0.70 measured for left_ear
    # across OpenCV's filters); the shoulders' do not.
    if fit == "stretch":
        for name in ("left_shoulder", "right_shoulder"):
            assert points[name].score == pytest.approx(MOVENET_REFERENCE[name][2], abs=0.15)
