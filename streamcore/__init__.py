"""streamcore: asyncio video inference on TensorFlow Lite, Coral Edge TPUs and CPUs.

The hot path (frame conversion, resize, quantization, invoke) runs in native threads
without the GIL; results come back to asyncio as numpy views over native memory.
"""

from . import _startup

_startup.install()  # only under `python -m streamcore`: Ctrl-C while importing exits 130, one line

from .adapters import (  # noqa: E402
    Classify, Detect, Keypoint, Pose, Segment, Segmentation, get_classes, get_keypoints, get_mask, get_objects,
    read_labels,
)
from .backends.registry import parse_devices
from .backends.specs import DeviceRequest
from .engine.engine import Cascade, Deploy, Engine
from .engine.frames import to_frame_view
from .engine.model import Model
from .engine.segments import Segments
from .errors import (
    BackendUnavailableError,
    BackendVersionError,
    DeviceError,
    DeviceNotFoundError,
    DeviceSpecError,
    EdgeTpuUnavailableError,
    EngineClosedError,
    InferenceError,
    InputError,
    ModelError,
    RoiError,
    DecodeError,
    ServiceError,
    SourceError,
    SourceNotFoundError,
    SourceTimeoutError,
    StreamcoreError,
    UnsupportedSourceError,
)
from .pipeline.loop import run
from .pipeline.pipeline import Pipeline
from .pipeline.records import StreamResult
from .pipeline.stream import Stream
from .sources import redact
from .types import (
    BBox,
    CascadeInfo,
    Class,
    Geometry,
    Object,
    ObjectError,
    Result,
    Secondary,
    TensorInfo,
    Timings,
)

__version__ = "0.1.0"

__all__ = [
    "BBox",
    "Cascade",
    "CascadeInfo",
    "Class",
    "Classify",
    "DecodeError",
    "Deploy",
    "Detect",
    "BackendUnavailableError",
    "BackendVersionError",
    "DeviceError",
    "DeviceNotFoundError",
    "DeviceSpecError",
    "DeviceRequest",
    "EdgeTpuUnavailableError",
    "Engine",
    "EngineClosedError",
    "Geometry",
    "InferenceError",
    "InputError",
    "Keypoint",
    "Model",
    "ModelError",
    "Object",
    "ObjectError",
    "Pipeline",
    "Pose",
    "Result",
    "RoiError",
    "Secondary",
    "Segment",
    "Segmentation",
    "Segments",
    "ServiceError",
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
    "get_keypoints",
    "get_mask",
    "get_objects",
    "parse_devices",
    "read_labels",
    "redact",
    "run",
    "to_frame_view",
    "__version__",
]
