"""Which adapter a model's outputs call for: what ``run`` and ``bench`` pick on their own."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from ..errors import InputError
from .classification import Classify
from .detection import Detect
from .pose import KEYPOINT_NAMES, Pose
from .segmentation import Segment

__all__ = ["TASKS", "guess_task", "make_adapter"]

TASKS = ("classify", "detect", "segment", "pose")


def guess_task(shapes: Sequence[Sequence[int]], postprocess: bool = False) -> str:
    """The task of a model from its output shapes (and whether it ends in an SSD postprocess):

    - detect: ``TFLite_Detection_PostProcess``, or four outputs;
    - pose: one [1, 1, 17, 3] output (MoveNet single-pose);
    - segment: output 0 is [1, H, W] or [1, H, W, C] with H and W at least 2;
    - classify: anything else.
    """
    if postprocess or len(shapes) == 4:
        return "detect"
    if not shapes:
        return "classify"
    first = [int(d) for d in shapes[0]]
    if len(shapes) == 1 and len(first) >= 2 and first[-2:] == [len(KEYPOINT_NAMES), 3] \
            and all(d == 1 for d in first[:-2]):
        return "pose"
    if len(first) in (3, 4) and first[0] == 1 and first[1] >= 2 and first[2] >= 2:
        return "segment"
    return "classify"


def make_adapter(task: str, *, top_k: Optional[int] = 3, threshold: Optional[float] = None,
                 labels: Optional[Mapping[int, str]] = None) -> Any:
    """The adapter for ``task`` with the CLI's defaults (scores >= 0 for classes, 0.5 for
    objects; ``top_k=None``: every object, one class)."""
    if task == "detect":
        return Detect(threshold=0.5 if threshold is None else threshold, labels=labels, top_k=top_k)
    if task == "segment":
        return Segment(labels=labels)
    if task == "pose":
        return Pose()
    if task == "classify":
        return Classify(top_k=1 if top_k is None else top_k, threshold=threshold or 0.0, labels=labels)
    raise InputError(f"unknown task {task!r}; one of {', '.join(TASKS)}")
