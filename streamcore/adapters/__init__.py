"""Adapters turning raw model outputs into pycoral-style results."""

from .base import Adapter
from .classification import Classify, get_classes
from .detection import Detect, get_objects
from .labels import read_labels
from .pose import KEYPOINT_NAMES, Keypoint, Pose, get_keypoints
from .segmentation import Segment, Segmentation, get_mask

__all__ = [
    "Adapter", "Classify", "Detect", "Segment", "Pose", "read_labels", "get_classes", "get_objects",
    "get_mask", "get_keypoints", "Segmentation", "Keypoint", "KEYPOINT_NAMES",
]
