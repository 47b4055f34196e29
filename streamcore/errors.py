"""Every error streamcore raises derives from StreamcoreError and the fitting builtin."""

from __future__ import annotations

__all__ = [
    "StreamcoreError",
    "InputError",
    "RoiError",
    "ModelError",
    "InferenceError",
    "EngineClosedError",
    "DeviceError",
    "DeviceNotFoundError",
    "DeviceSpecError",
    "BackendUnavailableError",
    "BackendVersionError",
    "EdgeTpuUnavailableError",
    "SourceError",
    "SourceNotFoundError",
    "SourceTimeoutError",
    "UnsupportedSourceError",
    "DecodeError",
    "ServiceError",
]


class StreamcoreError(Exception):
    """Base class of every streamcore error."""


class InputError(StreamcoreError, ValueError):
    """A frame or array that the model's input cannot be made from."""


class RoiError(InputError):
    """A region of interest that is empty or reaches outside the frame."""


class ModelError(StreamcoreError, ValueError):
    """A model file that is missing, corrupt, or unusable on the chosen devices."""


class InferenceError(StreamcoreError, RuntimeError):
    """The interpreter failed while running a frame."""


class EngineClosedError(StreamcoreError, RuntimeError):
    """The engine or pipeline was closed (or never started)."""


class DeviceError(StreamcoreError, RuntimeError):
    """A device spec that is invalid, or a device that failed."""


class DeviceNotFoundError(StreamcoreError, LookupError):
    """A device spec names a device that is not present."""


class DeviceSpecError(InputError, DeviceError):
    """A device spec no backend understands, or one with bad values."""


class BackendUnavailableError(DeviceError):
    """A backend's runtime is not installed or cannot be loaded; the message names the pip command."""


class BackendVersionError(BackendUnavailableError):
    """A backend's runtime is installed but its version is outside the tested range."""


class EdgeTpuUnavailableError(BackendUnavailableError, OSError):
    """libedgetpu could not be loaded."""


class SourceError(StreamcoreError, OSError):
    """A video source that cannot be opened or read."""


class SourceNotFoundError(SourceError, FileNotFoundError):
    """A file or device source that does not exist."""


class SourceTimeoutError(SourceError, TimeoutError):
    """A live source that did not answer or stopped sending within its timeout."""


class UnsupportedSourceError(SourceError):
    """A source that opens but holds no video this build can decode (codec, or no video track)."""


class DecodeError(SourceError):
    """A packet that could not be decoded (counted and skipped), or a file that ended early."""


class ServiceError(StreamcoreError, OSError):
    """A service (``serve``, metrics, MQTT) that cannot start: an endpoint or port in use, an
    IPC path that cannot be written, a broker that refuses the connection."""


def from_native(class_name: str, message: str) -> StreamcoreError:
    """The one map from a native error (sc::Error's class name) to its Python class: used by
    the extension's exception translator and for errors delivered on futures."""
    cls = globals().get(class_name)
    if not (isinstance(cls, type) and issubclass(cls, StreamcoreError)):
        cls = InferenceError
    return cls(message)
