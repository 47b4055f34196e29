"""Objects from SSD models ending in ``TFLite_Detection_PostProcess``.

That op gives four outputs: boxes [1, N, 4] (ymin, xmin, ymax, xmax, normalized to the
model input), classes [1, N], scores [1, N] and count [1]. Models list them in different
orders, so each output's role is found by, in turn:

1. names ``<...>TFLite_Detection_PostProcess[:k]``: ``k`` is the op's own output index
   (0 boxes, 1 classes, 2 scores, 3 count) whatever the order of the model's outputs;
2. names that say what they are: one each containing ``box``, ``class``, ``score`` and
   ``num`` or ``count`` (e.g. ``detection_boxes``);
3. shapes, with pycoral's order rule: boxes is the output with a trailing 4 (the largest one
   if several have it), count the one with a single element; of the two [1, N] outputs left,
   the first is classes when count is the last output (TF1 order boxes, classes, scores,
   count) and scores otherwise (TF2 order scores, boxes, count, classes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Sequence

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError, ModelError
from ..types import BBox, Geometry, Object, Result, TensorInfo
from .labels import LabelsArg, as_label_map

__all__ = ["Detect", "get_objects", "OutputLayout", "find_layout"]

_POSTPROCESS_NAME = re.compile(r"^(.*TFLite_Detection_PostProcess)(?::(\d+))?$")
_NAME_KEYWORDS = {
    "boxes": ("box",),
    "classes": ("class",),
    "scores": ("score",),
    "count": ("num", "count"),
}


@dataclass(frozen=True)
class OutputLayout:
    """Which model output holds each part of the postprocess result."""

    boxes: int
    classes: int
    scores: int
    count: int


def find_layout(outputs: Sequence[NDArray[Any]], output_details: Sequence[TensorInfo]) -> OutputLayout:
    """Finds each output's role (see the module docstring) and checks the shapes agree."""
    shapes = [list(np.shape(a)) for a in outputs]
    if len(outputs) != 4:
        raise _not_ssd(f"it has {len(outputs)} outputs {shapes}, not 4")
    names = [d.name for d in output_details] if len(output_details) == 4 else []
    layout = _layout_from_op_names(names) or _layout_from_keywords(names) or _layout_from_shapes(outputs)
    _check_shapes(layout, outputs)
    return layout


def get_objects(
    outputs: Sequence[NDArray[Any]],
    output_details: Sequence[TensorInfo],
    geometry: Geometry,
    threshold: float = 0.5,
    labels: Optional[Mapping[int, str]] = None,
    top_k: Optional[int] = None,
) -> List[Object]:
    """The detections scoring at least ``threshold``, best first (equal scores keep the
    model's order), at most ``top_k`` of them, with boxes in frame pixels: the letterbox,
    crop and ROI of ``geometry`` are undone and boxes clipped to its source rectangle."""
    _check_top_k(top_k)
    layout = find_layout(outputs, output_details)

    def real(index: int) -> NDArray[Any]:
        array = outputs[index]
        if index < len(output_details):
            return output_details[index].dequantize(array).reshape(-1)
        return np.asarray(array, dtype=np.float32).reshape(-1)

    boxes = real(layout.boxes).reshape(-1, 4)
    classes, scores = real(layout.classes), real(layout.scores)
    count_value = float(real(layout.count)[0])
    count = int(min(max(count_value, 0.0), len(scores))) if np.isfinite(count_value) else 0

    kept = np.flatnonzero(scores[:count] >= threshold)
    kept = kept[np.argsort(-scores[kept], kind="stable")]
    if top_k is not None:
        kept = kept[:top_k]

    objects = []
    for i in kept:
        class_id = int(np.rint(classes[i]))
        ymin, xmin, ymax, xmax = (float(v) for v in boxes[i])
        x0, y0, x1, y1 = geometry.box_to_frame(ymin, xmin, ymax, xmax)
        objects.append(Object(
            id=class_id,
            score=float(scores[i]),
            bbox=BBox(xmin=x0, ymin=y0, xmax=x1, ymax=y1),
            label=labels.get(class_id) if labels else None,
        ))
    return objects


class Detect:
    """Adapter turning an SSD postprocess model's outputs into ``Object`` results."""

    def __init__(self, threshold: float = 0.5, labels: LabelsArg = None,
                 top_k: Optional[int] = None) -> None:
        _check_top_k(top_k)
        self.threshold = float(threshold)
        self.labels = as_label_map(labels)
        self.top_k = top_k

    def __call__(self, result: Result) -> List[Object]:
        return get_objects(result.outputs, result.output_details, result.geometry,
                           self.threshold, self.labels, self.top_k)

    def __repr__(self) -> str:
        return f"Detect(threshold={self.threshold}, top_k={self.top_k})"


def _layout_from_op_names(names: Sequence[str]) -> Optional[OutputLayout]:
    matches = [_POSTPROCESS_NAME.match(name) for name in names]
    if not names or not all(matches):
        return None
    roles = {int(m.group(2) or 0): i for i, m in enumerate(matches) if m is not None}
    bases = {m.group(1) for m in matches if m is not None}
    if len(bases) != 1 or sorted(roles) != [0, 1, 2, 3]:
        return None
    return OutputLayout(boxes=roles[0], classes=roles[1], scores=roles[2], count=roles[3])


def _layout_from_keywords(names: Sequence[str]) -> Optional[OutputLayout]:
    found = {}
    for role, keywords in _NAME_KEYWORDS.items():
        hits = [i for i, name in enumerate(names) if any(k in name.lower() for k in keywords)]
        if len(hits) != 1:
            return None
        found[role] = hits[0]
    if len(set(found.values())) != 4:
        return None
    return OutputLayout(**found)


def _layout_from_shapes(outputs: Sequence[NDArray[Any]]) -> OutputLayout:
    shapes = [np.shape(a) for a in outputs]
    sizes = [int(np.size(a)) for a in outputs]
    with_4 = [i for i, s in enumerate(shapes) if len(s) >= 2 and s[-1] == 4]
    if not with_4:
        raise _not_ssd(f"no output has the [1, N, 4] shape of boxes (shapes {[list(s) for s in shapes]})")
    largest = max(sizes[i] for i in with_4)
    boxes_candidates = [i for i in with_4 if sizes[i] == largest]
    if len(boxes_candidates) != 1:
        raise _not_ssd(f"cannot tell which output holds boxes (shapes {[list(s) for s in shapes]})")
    boxes = boxes_candidates[0]
    singles = [i for i in range(4) if i != boxes and sizes[i] == 1]
    if len(singles) > 1:  # N == 1: classes and scores are [1, 1], count is [1]
        singles = [i for i in singles if len(shapes[i]) <= 1]
    if len(singles) != 1:
        raise _not_ssd(f"cannot tell which output holds the detection count (shapes "
                       f"{[list(s) for s in shapes]})")
    count = singles[0]
    first, second = [i for i in range(4) if i not in (boxes, count)]
    if count == 3:
        return OutputLayout(boxes=boxes, classes=first, scores=second, count=count)
    return OutputLayout(boxes=boxes, classes=second, scores=first, count=count)


def _check_shapes(layout: OutputLayout, outputs: Sequence[NDArray[Any]]) -> None:
    shapes = [list(np.shape(a)) for a in outputs]
    boxes = np.shape(outputs[layout.boxes])
    if len(boxes) < 2 or boxes[-1] != 4:
        raise _not_ssd(f"boxes (output {layout.boxes}) have shape {list(boxes)}, not [1, N, 4]")
    n = int(np.size(outputs[layout.boxes])) // 4
    for role, index in (("classes", layout.classes), ("scores", layout.scores)):
        if np.size(outputs[index]) != n:
            raise _not_ssd(f"{role} (output {index}) have shape {shapes[index]}, not [1, {n}] "
                           f"like the boxes")
    if np.size(outputs[layout.count]) != 1:
        raise _not_ssd(f"count (output {layout.count}) has shape {shapes[layout.count]}, not [1]")


def _not_ssd(why: str) -> ModelError:
    return ModelError(f"the model is not an SSD postprocess model: {why}. Detect needs the "
                      f"boxes, classes, scores and count outputs of TFLite_Detection_PostProcess; "
                      f"use Classify for classifiers, or write an adapter for this model")


def _check_top_k(top_k: Optional[int]) -> None:
    if top_k is None:
        return
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise InputError(f"top_k must be None or a whole number >= 1, got {top_k!r}")
