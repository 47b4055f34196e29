"""Synthetic TFLite models built in memory: default models for benchmarks and tests on a fresh clone."""

from __future__ import annotations

from .builder import GraphBuilder, Quantization
from .cache import cache_dir, cached_path, write
from .classifiers import non_image_model, tiny_classifier
from .dense import tiny_pose, tiny_segmenter
from .detector import tiny_detector
from .edgetpu import edgetpu_classifier, edgetpu_detector
from .mobilenet import mobilenet_v2
from .segments import edgetpu_segments, tiny_segments

__all__ = [
    "mobilenet_v2",
    "tiny_classifier",
    "tiny_detector",
    "tiny_segmenter",
    "tiny_pose",
    "non_image_model",
    "edgetpu_classifier",
    "tiny_segments",
    "edgetpu_segments",
    "edgetpu_detector",
    "write",
    "cached_path",
    "cache_dir",
    "GraphBuilder",
    "Quantization",
]
