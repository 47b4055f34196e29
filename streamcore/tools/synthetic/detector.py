"""An SSD-shaped detector whose detections are a documented function of the image.

Rule: the frame is split into an 8x8 grid of cells and there is one anchor for every
grid-aligned rectangle of cells (36 x 36 = 1296 anchors). Class k looks at colour channel k % 3.
For an anchor covering cells A, the class-k logit is

    GAIN * (mean brightness of channel k%3 inside A - mean brightness outside A - 0.5)

(brightness in [0, 1]; an anchor covering the whole frame uses only the inside mean). Box
encodings are zero, so every box equals its anchor. A uniformly dark frame with one bright
rectangle therefore scores highest on the anchor that matches the rectangle (exactly, when its
edges lie on the grid; within one cell otherwise), with score sigmoid(GAIN / 2) ~ 0.99 at full
contrast, and class k for a rectangle lit only in channel k. TFLite_Detection_PostProcess then
returns that box first: [ymin, xmin, ymax, xmax] normalized to [0, 1].
"""

from __future__ import annotations

from typing import Any, List, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray
from flatbuffers import flexbuffers

from ...errors import ModelError
from . import options
from .builder import GraphBuilder, Quantization

__all__ = ["tiny_detector", "DETECTOR_GRID", "DETECTOR_GAIN", "POSTPROCESS_OP"]

POSTPROCESS_OP = "TFLite_Detection_PostProcess"
DETECTOR_GRID = 8
DETECTOR_GAIN = 10.0
_INPUT_QUANTIZATION = Quantization.per_tensor(1.0 / 128.0, 128)
_CHANNELS = 3
_BACKGROUND_LOGIT = -DETECTOR_GAIN
# Same decoding constants and thresholds as ssd_mobilenet_v1_coco_quant_postprocess.tflite.
_BOX_SCALES = {"y_scale": 10.0, "x_scale": 10.0, "h_scale": 5.0, "w_scale": 5.0}
_NMS_SCORE_THRESHOLD = 1e-8
_NMS_IOU_THRESHOLD = 0.6


def tiny_detector(
    input_size: Sequence[int] = (64, 64), num_classes: int = 3, max_detections: int = 10, seed: int = 0
) -> bytes:
    """uint8 [1, H, W, 3] (scale 1/128, zero point 128) -> TFLite_Detection_PostProcess.

    Outputs (float32): boxes [1, N, 4], classes [1, N], scores [1, N], count [1], N = max_detections.
    H and W must be multiples of 8. See the module docstring for how detections follow the image;
    `seed` only permutes the anchor order, which leaves the detections unchanged.
    """
    height, width = (int(d) for d in input_size)
    if height < DETECTOR_GRID or width < DETECTOR_GRID or height % DETECTOR_GRID or width % DETECTOR_GRID:
        raise ModelError(f"input_size {(height, width)} must be positive multiples of {DETECTOR_GRID}")
    if num_classes < 1 or max_detections < 1:
        raise ModelError("num_classes and max_detections must be at least 1")
    anchors, inside = _grid_anchors(np.random.default_rng(seed))
    num_anchors = len(anchors)
    g = GraphBuilder("streamcore tiny detector (see streamcore.models.detector)")

    image = g.tensor("normalized_input_image_tensor", (1, height, width, _CHANNELS), "uint8", _INPUT_QUANTIZATION)
    cell_h, cell_w = height // DETECTOR_GRID, width // DETECTOR_GRID
    cells_q = g.tensor("cells", (1, DETECTOR_GRID, DETECTOR_GRID, _CHANNELS), "uint8", _INPUT_QUANTIZATION)
    g.operator("AVERAGE_POOL_2D", [image], [cells_q], options.pool_2d((cell_h, cell_w), (cell_h, cell_w), "valid"))
    cells = g.tensor("cells/dequantized", (1, DETECTOR_GRID, DETECTOR_GRID, _CHANNELS), "float32")
    g.operator("DEQUANTIZE", [cells_q], [cells])
    features = DETECTOR_GRID * DETECTOR_GRID * _CHANNELS
    flat = g.tensor("cells/flat", (1, features), "float32")
    flat_shape = g.constant("cells/flat_shape", np.array([1, features], np.int32))
    g.operator("RESHAPE", [cells, flat_shape], [flat], options.reshape([1, features]))

    weights, bias = _class_logit_parameters(inside, num_classes)
    w = g.constant("class_logits/weights", weights)
    b = g.constant("class_logits/bias", bias)
    logits_flat = g.tensor("class_logits/flat", (1, len(bias)), "float32")
    g.operator("FULLY_CONNECTED", [flat, w, b], [logits_flat], options.fully_connected())
    logits_shape = (1, num_anchors, num_classes + 1)
    logits = g.tensor("class_logits", logits_shape, "float32")
    logits_shape_t = g.constant("class_logits/shape", np.array(logits_shape, np.int32))
    g.operator("RESHAPE", [logits_flat, logits_shape_t], [logits], options.reshape(logits_shape))
    scores = g.tensor("convert_scores", logits_shape, "float32")
    g.operator("LOGISTIC", [logits], [scores])

    box_encodings = g.constant("box_encodings", np.zeros((1, num_anchors, 4), np.float32))
    anchors_t = g.constant("anchors", anchors)
    outputs = add_postprocess(g, box_encodings, scores, anchors_t, num_classes, max_detections)
    return g.build([image], outputs)


def _grid_anchors(rng: np.random.Generator) -> Tuple[NDArray[Any], NDArray[Any]]:
    """Anchors [A, 4] as (y_center, x_center, h, w) and their cell masks [A, grid*grid]."""
    grid = DETECTOR_GRID
    spans = [(lo, hi) for lo in range(grid) for hi in range(lo + 1, grid + 1)]
    cell = np.arange(grid)
    span_lo = np.array([s[0] for s in spans])
    span_hi = np.array([s[1] for s in spans])
    span_mask = (cell[None, :] >= span_lo[:, None]) & (cell[None, :] < span_hi[:, None])
    rows, cols = np.meshgrid(np.arange(len(spans)), np.arange(len(spans)), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    inside = (span_mask[rows][:, :, None] & span_mask[cols][:, None, :]).reshape(len(rows), grid * grid)
    anchors = np.stack(
        [
            (span_lo[rows] + span_hi[rows]) / (2.0 * grid),
            (span_lo[cols] + span_hi[cols]) / (2.0 * grid),
            (span_hi[rows] - span_lo[rows]) / float(grid),
            (span_hi[cols] - span_lo[cols]) / float(grid),
        ],
        axis=1,
    ).astype(np.float32)
    order = rng.permutation(len(anchors))
    return anchors[order], inside[order]


def _class_logit_parameters(inside: NDArray[Any], num_classes: int) -> Tuple[NDArray[Any], NDArray[Any]]:
    """FULLY_CONNECTED weights/bias from cell values x in [-1, 1] (brightness (x + 1) / 2) to logits.

    Logit rows are ordered (anchor, class) with class 0 the background column the
    postprocess op skips.
    """
    num_anchors, num_cells = inside.shape
    n_in = inside.sum(axis=1).astype(np.float64)
    n_out = num_cells - n_in
    # mean_in(b) - mean_out(b) = (mean_in(x) - mean_out(x)) / 2; the whole-frame anchor uses (mean_in(x) + 1) / 2.
    per_cell = np.where(inside, DETECTOR_GAIN / (2.0 * n_in[:, None]),
                        -DETECTOR_GAIN / (2.0 * np.maximum(n_out, 1.0)[:, None]))
    anchor_bias = np.where(n_out > 0, -0.5 * DETECTOR_GAIN, 0.0)
    weights = np.zeros((num_anchors, num_classes + 1, num_cells, _CHANNELS), np.float32)
    for k in range(num_classes):
        weights[:, k + 1, :, k % _CHANNELS] = per_cell
    bias = np.empty((num_anchors, num_classes + 1), np.float32)
    bias[:, 0] = _BACKGROUND_LOGIT
    bias[:, 1:] = anchor_bias[:, None]
    return weights.reshape(num_anchors * (num_classes + 1), num_cells * _CHANNELS), bias.ravel()


def add_postprocess(g: GraphBuilder, boxes: int, scores: int, anchors: int, num_classes: int,
                    max_detections: int) -> List[int]:
    """Appends TFLite_Detection_PostProcess on (boxes, scores, anchors); returns its 4 outputs."""
    n = max_detections
    outputs = [
        g.tensor("TFLite_Detection_PostProcess", (1, n, 4), "float32"),
        g.tensor("TFLite_Detection_PostProcess:1", (1, n), "float32"),
        g.tensor("TFLite_Detection_PostProcess:2", (1, n), "float32"),
        g.tensor("TFLite_Detection_PostProcess:3", (1,), "float32"),
    ]
    g.custom_operator(POSTPROCESS_OP, [boxes, scores, anchors], outputs, _postprocess_options(num_classes, n))
    return outputs


def _postprocess_options(num_classes: int, max_detections: int) -> bytes:
    return bytes(
        flexbuffers.Dumps(
            {
                "max_detections": max_detections,
                "max_classes_per_detection": 1,
                "detections_per_class": 100,
                "nms_score_threshold": _NMS_SCORE_THRESHOLD,
                "nms_iou_threshold": _NMS_IOU_THRESHOLD,
                "num_classes": num_classes,
                "use_regular_nms": False,
                **_BOX_SCALES,
            }
        )
    )
