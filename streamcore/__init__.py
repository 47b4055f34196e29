"""streamcore: asyncio video inference on TensorFlow Lite, Coral Edge TPUs and CPUs.

The hot path (frame conversion, resize, quantization, invoke) runs in native threads
without the GIL; results come back to asyncio as numpy views over native memory.
"""

from .adapters import Classify, Detect, get_classes, get_objects, read_labels
from .devices import DeviceRequest, parse_devices
from .engine import Deploy, Engine
from .errors import (
    DeviceError,
    DeviceNotFoundError,
    EdgeTpuUnavailableError,
    EngineClosedError,
    InferenceError,
    InputError,
    ModelError,
    RoiError,
    DecodeError,
    SourceError,
    SourceNotFoundError,
    SourceTimeoutError,
    StreamcoreError,
    UnsupportedSourceError,
)
from .frames import to_frame_view
from .geometry import Geometry
from .loop import run
from .model import Model
from .pipeline import Pipeline
from .records import StreamResult
from .results import BBox, Class, Object, Result, Timings
from .sources import redact
from .stream import Stream
from .tensors import TensorInfo

__version__ = "0.1.0"

__all__ = [
    "BBox",
    "Class",
    "Classify",
    "DecodeError",
    "Deploy",
    "Detect",
    "DeviceError",
    "DeviceNotFoundError",
    "DeviceRequest",
    "EdgeTpuUnavailableError",
    "Engine",
    "EngineClosedError",
    "Geometry",
    "InferenceError",
    "InputError",
    "Model",
    "ModelError",
    "Object",
    "Pipeline",
    "Result",
    "RoiError",
    "SourceError",
    "SourceNotFoundError",
    "SourceTimeoutError",
    "Stream",
    "StreamResult",
    "StreamcoreError",
    "TensorInfo",
    "Timings",
    "UnsupportedSourceError",
    "get_classes",
    "get_objects",
    "parse_devices",
    "read_labels",
    "redact",
    "run",
    "to_frame_view",
    "__version__",
]
