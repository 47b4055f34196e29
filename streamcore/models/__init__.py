"""Synthetic TFLite models: an alias of ``streamcore.tools.synthetic``, kept so that
``from streamcore import models`` and ``python -m streamcore.models`` go on working."""

from __future__ import annotations

from ..tools.synthetic import (
    GraphBuilder,
    Quantization,
    cache_dir,
    cached_path,
    edgetpu_classifier,
    edgetpu_segments,
    edgetpu_detector,
    mobilenet_v2,
    non_image_model,
    tiny_classifier,
    tiny_detector,
    tiny_pose,
    tiny_segmenter,
    tiny_segments,
    write,
)

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
