"""What a pipeline yields per stream: a frame's result, an error record, or the stream's end."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from numpy.typing import NDArray

from ..errors import StreamcoreError
from ..jsonsafe import clean
from ..types import Result

__all__ = ["StreamResult", "to_jsonable"]


@dataclass
class StreamResult:
    """``kind`` is "result" (a frame ran), "error" (a skipped packet, a failed inference or a
    failed reconnect: the stream goes on) or "end" (the stream is over; ``error`` says why
    if it did not end cleanly)."""

    stream: str
    kind: str
    index: Optional[int] = None  # the frame's position in its stream
    pts: Optional[int] = None
    time: Optional[float] = None  # seconds, the stream's own clock
    captured_at: Optional[float] = None  # time.time() when the frame was decoded
    latency_ms: Optional[float] = None  # decoded -> result
    value: Any = None  # the adapter's output: classes, or objects in frame pixels
    result: Optional[Result] = None
    frame: Any = None  # the decoded frame, with Pipeline(keep_frames=True)
    error: Optional[StreamcoreError] = None

    @property
    def ok(self) -> bool:
        return self.kind == "result"

    @property
    def outputs(self) -> List[NDArray[Any]]:
        return [] if self.result is None else self.result.outputs

    @property
    def device(self) -> Optional[str]:
        return None if self.result is None else self.result.device

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready summary (no raw outputs, no frame): strict JSON, with any NaN or
        Infinity (a float model that overflowed, a time that is not known) as None."""
        out: Dict[str, Any] = {"stream": self.stream, "kind": self.kind}
        if self.index is not None:
            out["index"] = self.index
        if self.pts is not None:
            out["pts"] = self.pts
        if self.time is not None:
            out["time"] = round(self.time, 6)
        if self.captured_at is not None:
            out["captured_at"] = round(self.captured_at, 6)
        if self.latency_ms is not None:
            out["latency_ms"] = round(self.latency_ms, 3)
        if self.result is not None:
            out["device"] = self.result.device
            out["invoke_ms"] = round(self.result.timings.invoke_ms, 3)
            out["value"] = to_jsonable(self.value)
            if self.result.cascade is not None:
                out["cascade"] = to_jsonable(self.result.cascade)
        if self.error is not None:
            out["error"] = {"type": type(self.error).__name__, "message": str(self.error)}
        cleaned: Dict[str, Any] = clean(out)
        return cleaned


def to_jsonable(value: Any) -> Any:
    summary = getattr(value, "to_json", None)
    if callable(summary) and not isinstance(value, type):  # e.g. a Segmentation: its summary, not the mask
        return to_jsonable(summary())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, 6)
    if hasattr(value, "tolist"):
        return value.tolist()
    return value
