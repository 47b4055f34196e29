"""Adapters turning raw model outputs into pycoral-style results."""

from .base import Adapter
from .classification import Classify, get_classes
from .detection import Detect, get_objects
from .labels import read_labels

__all__ = ["Adapter", "Classify", "Detect", "read_labels", "get_classes", "get_objects"]
