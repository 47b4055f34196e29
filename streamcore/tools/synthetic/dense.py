"""Tiny dense-output models: a segmenter whose mask is a documented function of the image, and
a MoveNet-shaped pose model, for adapter and CLI tests on a fresh clone."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...errors import ModelError
from . import options
from .builder import GraphBuilder, Quantization

__all__ = ["tiny_segmenter", "tiny_pose", "SEGMENTER_CLASSES"]

SEGMENTER_CLASSES = 3
_INPUT_QUANTIZATION = Quantization.per_tensor(1.0 / 128.0, 128)
_KEYPOINTS = 17


def tiny_segmenter(input_size: Sequence[int] = (32, 32), cell: int = 4, argmax: bool = False) -> bytes:
    """uint8 [1, H, W, 3] (scale 1/128, zero point 128) -> AVERAGE_POOL_2D over cell x cell
    blocks: per-class scores [1, H/cell, W/cell, 3] uint8, class k = colour channel k (red 0,
    green 1, blue 2). With ``argmax`` an ARG_MAX follows, giving the class map [1, H/cell,
    W/cell] int64 (the style of Coral's DeepLab). Each cell's class is the brightest channel of
    its block's mean colour."""
    height, width = (int(d) for d in input_size)
    if cell < 1 or height < 2 * cell or width < 2 * cell or height % cell or width % cell:
        raise ModelError(f"input_size {(height, width)} must be multiples of cell={cell}, at least two cells a side")
    g = GraphBuilder("streamcore tiny segmenter (see streamcore.models.dense)")
    image = g.tensor("input", (1, height, width, 3), "uint8", _INPUT_QUANTIZATION)
    grid = (1, height // cell, width // cell, SEGMENTER_CLASSES)
    scores = g.tensor("class_scores", grid, "uint8", _INPUT_QUANTIZATION)
    g.operator("AVERAGE_POOL_2D", [image], [scores], options.pool_2d((cell, cell), (cell, cell), "valid"))
    if not argmax:
        return g.build([image], [scores])
    axis = g.constant("ArgMax/dimension", np.array([3], np.int32))
    classes = g.tensor("ArgMax", grid[:3], "int64")
    g.operator("ARG_MAX", [scores, axis], [classes], options.arg_max("int64"))
    return g.build([image], [classes])


def tiny_pose(input_size: Sequence[int] = (32, 32), seed: int = 0) -> bytes:
    """uint8 [1, H, W, 3] -> [1, 1, 17, 3] float32 in (0, 1), MoveNet single-pose's output shape
    (y, x, score per keypoint): AVERAGE_POOL_2D, FULLY_CONNECTED with random weights, LOGISTIC.
    The values follow the image but mean nothing: for plumbing, not accuracy."""
    height, width = (int(d) for d in input_size)
    if height < 4 or width < 4 or height % 4 or width % 4:
        raise ModelError(f"input_size {(height, width)} must be multiples of 4")
    rng = np.random.default_rng(seed)
    g = GraphBuilder("streamcore tiny pose model (see streamcore.models.dense)")
    image = g.tensor("input", (1, height, width, 3), "uint8", _INPUT_QUANTIZATION)
    pooled_q = g.tensor("pool", (1, 4, 4, 3), "uint8", _INPUT_QUANTIZATION)
    g.operator("AVERAGE_POOL_2D", [image], [pooled_q],
               options.pool_2d((height // 4, width // 4), (height // 4, width // 4), "valid"))
    pooled = g.tensor("pool/dequantized", (1, 4, 4, 3), "float32")
    g.operator("DEQUANTIZE", [pooled_q], [pooled])
    flat = g.tensor("pool/flat", (1, 48), "float32")
    g.operator("RESHAPE", [pooled, g.constant("pool/flat_shape", np.array([1, 48], np.int32))], [flat],
               options.reshape([1, 48]))
    outputs = _KEYPOINTS * 3
    w = g.constant("keypoints/weights", (rng.standard_normal((outputs, 48)) * 0.3).astype(np.float32))
    b = g.constant("keypoints/bias", np.zeros(outputs, np.float32))
    logits = g.tensor("keypoints/logits", (1, outputs), "float32")
    g.operator("FULLY_CONNECTED", [flat, w, b], [logits], options.fully_connected())
    shaped = g.tensor("keypoints/shaped", (1, 1, _KEYPOINTS, 3), "float32")
    g.operator("RESHAPE", [logits, g.constant("keypoints/shape", np.array([1, 1, _KEYPOINTS, 3], np.int32))],
               [shaped], options.reshape([1, 1, _KEYPOINTS, 3]))
    keypoints = g.tensor("keypoints", (1, 1, _KEYPOINTS, 3), "float32")
    g.operator("LOGISTIC", [shaped], [keypoints])
    return g.build([image], [keypoints])
