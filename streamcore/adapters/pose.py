"""Single-person pose from MoveNet (Lightning or Thunder, single-pose).

MoveNet's output is [1, 1, 17, 3]: 17 COCO keypoints in a fixed order, each (y, x, score) with
y and x normalized to the model input. ``Pose`` maps them to frame pixels with the result's
``Geometry`` (undoing letterbox, crop and ROI; points are clipped to the source rectangle, as
``Detect`` clips boxes) and names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError
from ..types import Geometry, Result, TensorInfo

__all__ = ["Pose", "Keypoint", "get_keypoints", "KEYPOINT_NAMES"]

# MoveNet's (and COCO's) keypoint order.
KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)


@dataclass(frozen=True)
class Keypoint:
    """One body keypoint: ``x``, ``y`` in frame pixels and the model's confidence."""

    id: int
    name: str
    x: float
    y: float
    score: float


def get_keypoints(output: NDArray[Any], geometry: Geometry, info: Optional[TensorInfo] = None) -> List[Keypoint]:
    """The 17 keypoints of a MoveNet single-pose output, in MoveNet order, in frame pixels."""
    if np.size(output) != len(KEYPOINT_NAMES) * 3:
        raise _not_movenet(f"output has shape {list(np.shape(output))}")
    real = info.dequantize(output) if info is not None else np.asarray(output, dtype=np.float32)
    points = real.reshape(len(KEYPOINT_NAMES), 3).astype(np.float64)
    lo_x, hi_x = geometry.src_x, geometry.src_x + geometry.src_w
    lo_y, hi_y = geometry.src_y, geometry.src_y + geometry.src_h
    keypoints = []
    for i, (y, x, score) in enumerate(points):
        fx, fy = geometry.to_frame(x * geometry.tensor_w, y * geometry.tensor_h)
        keypoints.append(Keypoint(id=i, name=KEYPOINT_NAMES[i], x=min(max(fx, lo_x), hi_x),
                                  y=min(max(fy, lo_y), hi_y), score=float(score)))
    return keypoints


class Pose:
    """Adapter turning a MoveNet single-pose output into 17 named ``Keypoint`` results."""

    def __call__(self, result: Result) -> List[Keypoint]:
        if not result.outputs:
            raise _not_movenet("the model has no outputs")
        details: Sequence[TensorInfo] = result.output_details
        info = details[0] if details else None
        return get_keypoints(result.outputs[0], result.geometry, info)

    def __repr__(self) -> str:
        return "Pose()"


def _not_movenet(why: str) -> ModelError:
    return ModelError(f"the model is not a MoveNet single-pose model: {why}, not [1, 1, 17, 3] "
                      f"(y, x, score per keypoint). Pose reads MoveNet Lightning/Thunder single-pose; "
                      f"use Segment, Classify or Detect for other models")
