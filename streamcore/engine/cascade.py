"""Cascades: a detector, then a second model on each object it finds (DeepStream's secondary
models, OpenVINO's chained demos).

A frame is borrowed once as a native FrameView. The detector runs on it; each selected
object's box, widened by ``margin`` and clipped to the frame, becomes an ROI of that same
view, so the second model's preprocess reads the crop straight from the original frame at
full resolution (no copy of the frame, no crop of the detector's downscaled input). All of
a frame's crops are submitted at once, so they spread over the second model's devices.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..adapters import Classify, Detect
from ..adapters.detection import find_layout
from ..errors import EngineClosedError, InputError, ModelError, StreamcoreError
from ..types import BBox, CascadeInfo, Object, ObjectError, Result, Secondary
from .deploy import Deploy, as_deploy
from .runner import ModelRunner, Roi, frame_view

__all__ = ["Cascade", "CascadeRunner", "crop_roi"]

DETECTOR, CLASSIFIER = "detector", "classifier"  # the model names of a cascade engine


@dataclass
class Cascade:
    """A detector and a second model run on each object it finds::

        Engine(Cascade(detector=Deploy(ssd, "usb:0", Detect(0.5)),
                       classifier=Deploy(mobilenet, "usb:1", Classify(top_k=1)),
                       when=lambda o: o.label == "car", max_per_frame=8, margin=0.1))

    ``detector`` and ``classifier`` are ``Deploy``s (or ``(model, devices[, adapter])``
    tuples). The detector's adapter must give a list of ``streamcore.Object`` (its default
    is ``Detect()``); anything else is an ``InputError``: a model or adapter without boxes
    cannot start a cascade. The classifier's adapter (default ``Classify()``) makes each
    object's ``Secondary.value``.

    ``when(object)`` selects the objects to classify (default: all). Of those, the
    ``max_per_frame`` best scoring go to the classifier (default: no limit); the rest are
    counted as skipped. ``margin`` widens each box by that fraction of its width (left and
    right) and height (top and bottom) before it is clipped to the frame.
    """

    detector: Union[Deploy, Tuple[Any, ...]]
    classifier: Union[Deploy, Tuple[Any, ...]]
    when: Optional[Callable[[Object], Any]] = None
    max_per_frame: Optional[int] = None
    margin: float = 0.0

    def __post_init__(self) -> None:
        self.detector = as_deploy(DETECTOR, self.detector)
        self.classifier = as_deploy(CLASSIFIER, self.classifier)
        if self.detector.adapter is None:  # a copy: the caller's Deploy stays as given
            self.detector = replace(self.detector, adapter=Detect())
        if self.classifier.adapter is None:
            self.classifier = replace(self.classifier, adapter=Classify())
        if isinstance(self.detector.adapter, Classify):
            raise InputError(
                "the cascade's detector gives no boxes: its adapter is Classify; the first model of a "
                "cascade must be a detector whose adapter returns a list of streamcore.Object, e.g. Detect(0.5)"
            )
        if self.when is not None and not callable(self.when):
            raise InputError(f"when={self.when!r}; pass a function taking an Object and returning True to classify it")
        limit = self.max_per_frame
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
            raise InputError(f"max_per_frame={limit!r}; pass None (no limit) or a whole number >= 1")
        try:
            margin = float(self.margin)
        except (TypeError, ValueError):
            raise InputError(f"margin={self.margin!r}; pass a fraction of the box size, e.g. 0.1") from None
        if not math.isfinite(margin) or margin < 0.0:
            raise InputError(f"margin={self.margin!r}; pass a finite fraction >= 0 of the box size, e.g. 0.1")
        self.margin = margin

    def deploys(self) -> Dict[str, Deploy]:
        assert isinstance(self.detector, Deploy) and isinstance(self.classifier, Deploy)
        return {DETECTOR: self.detector, CLASSIFIER: self.classifier}


def crop_roi(box: BBox, margin: float, frame_w: int, frame_h: int) -> Optional[Roi]:
    """The box widened by `margin` (a fraction of its size, on each side), rounded outwards
    to whole pixels and clipped to the frame: (x, y, width, height), or None when nothing of
    it lies inside the frame."""
    coords = (box.xmin, box.ymin, box.xmax, box.ymax)
    if not all(math.isfinite(v) for v in coords):
        return None
    dx, dy = max(0.0, box.width) * margin, max(0.0, box.height) * margin
    x0 = max(0, math.floor(box.xmin - dx))
    y0 = max(0, math.floor(box.ymin - dy))
    x1 = min(frame_w, math.ceil(box.xmax + dx))
    y1 = min(frame_h, math.ceil(box.ymax + dy))
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


class CascadeRunner:
    """Runs a Cascade on its two model runners and keeps its frame and object counts."""

    def __init__(self, spec: Cascade, detector: ModelRunner, classifier: ModelRunner) -> None:
        self.spec = spec
        self._detector = detector
        self._classifier = classifier
        self.frames = 0  # frames with a result
        self.frame_errors = 0  # frames that failed (detector, bad adapter output, closed engine)
        self.objects = 0
        self.matched = 0
        self.classified = 0
        self.errors = 0  # objects whose second stage failed
        self.skipped = 0  # matched objects past max_per_frame
        self._second_stage_s = 0.0
        self._object_invoke_ms = 0.0  # summed over classified objects

    @classmethod
    def of(cls, spec: Cascade, runners: Dict[str, ModelRunner]) -> "CascadeRunner":
        return cls(spec, runners[DETECTOR], runners[CLASSIFIER])

    def check(self) -> None:
        """After the devices are built: a Detect detector must be an SSD postprocess model."""
        adapter = self._detector.adapter
        if not isinstance(adapter, Detect):
            return  # a custom adapter is checked on its first result
        outputs = self._detector.details()[1]
        try:
            find_layout([np.zeros([max(1, d) for d in o.shape], o.dtype) for o in outputs], outputs)
        except ModelError as e:
            raise InputError(f"the cascade's detector {self._detector.model.name} gives no boxes: {e}") from None

    async def infer(self, frame: Any, roi: Optional[Roi], frame_options: Dict[str, Any]) -> Result:
        try:
            result = await self._run(frame, roi, frame_options)
        except Exception:  # a cancelled frame is not an error
            self.frame_errors += 1
            raise
        self.frames += 1
        return result

    async def _run(self, frame: Any, roi: Optional[Roi], frame_options: Dict[str, Any]) -> Result:
        started = time.perf_counter()
        view = frame_view(frame, frame_options)  # one borrow for the detector and every crop
        result = await self._detector.infer_view(view, roi)
        detected = time.perf_counter()
        objects = self._objects(result.value)
        chosen = self._choose(objects)
        geometry = result.geometry
        picked = [i for i, c in enumerate(chosen) if c]
        crops = [crop_roi(objects[i].bbox, self.spec.margin, geometry.frame_w, geometry.frame_h) for i in picked]
        secondaries = await asyncio.gather(*(self._second(view, crop) for crop in crops))
        finished = time.perf_counter()

        out = list(objects)
        for i, secondary in zip(picked, secondaries):
            out[i] = replace(objects[i], secondary=secondary)
        failed = sum(1 for s in secondaries if s.error is not None)
        matched = sum(1 for c in chosen if c is not None)
        info = CascadeInfo(
            objects=len(objects),
            matched=matched,
            classified=len(secondaries) - failed,
            errors=failed,
            skipped=matched - len(secondaries),
            second_stage_ms=(finished - detected) * 1000.0,
            total_ms=(finished - started) * 1000.0,
        )
        self.objects += info.objects
        self.matched += info.matched
        self.classified += info.classified
        self.errors += info.errors
        self.skipped += info.skipped
        self._second_stage_s += finished - detected
        self._object_invoke_ms += sum(s.timings.invoke_ms for s in secondaries if s.timings is not None)
        result.value = out
        result.cascade = info
        return result

    def _objects(self, value: Any) -> List[Object]:
        if isinstance(value, (list, tuple)) and all(isinstance(o, Object) for o in value):
            return list(value)
        bad = next((o for o in value if not isinstance(o, Object)), None) if isinstance(value, (list, tuple)) else None
        what = f"a list holding a {type(bad).__name__}" if bad is not None else f"a {type(value).__name__}"
        raise InputError(
            f"the cascade's detector {self._detector.model.name} gives no boxes: its adapter returned {what}; "
            "the first model of a cascade must be a detector whose adapter returns a list of "
            "streamcore.Object (Detect() does)"
        )

    def _choose(self, objects: Sequence[Object]) -> List[Optional[bool]]:
        """Per object: None (not matched by `when`), True (to classify) or False (skipped)."""
        when = self.spec.when
        matched: List[int] = []
        for i, o in enumerate(objects):
            try:
                keep = True if when is None else bool(when(o))
            except Exception as e:
                raise InputError(f"the cascade's when= raised {type(e).__name__}: {e} (on {o})") from e
            if keep:
                matched.append(i)
        limit = self.spec.max_per_frame
        if limit is not None and len(matched) > limit:
            # sorted() is stable: equal scores keep the detector's order
            kept = set(sorted(matched, key=lambda i: -objects[i].score)[:limit])
        else:
            kept = set(matched)
        chosen: List[Optional[bool]] = [None] * len(objects)
        for i in matched:
            chosen[i] = i in kept
        return chosen

    async def _second(self, view: Any, crop: Optional[Roi]) -> Secondary:
        if crop is None:
            return Secondary(None, error=ObjectError("RoiError", "the box lies outside the frame (or is not finite)"))
        try:
            r = await self._classifier.infer_view(view, crop)
        except EngineClosedError:
            raise  # the engine is going away: the frame fails, not the object
        except StreamcoreError as e:
            return Secondary(crop, error=ObjectError(type(e).__name__, str(e)))
        except Exception as e:  # the classifier's adapter is user code
            return Secondary(crop, error=ObjectError(
                "InferenceError", f"the classifier's adapter raised {type(e).__name__}: {e}"))
        return Secondary(crop, r.value, r.device, r.timings)

    def stats(self) -> Dict[str, Any]:
        """Frames and objects so far, and the second stage's cost: wall ms per frame (its
        objects run concurrently) and device invoke ms per classified object."""
        return {
            "frames": self.frames,
            "frame_errors": self.frame_errors,
            "objects": self.objects,
            "matched": self.matched,
            "classified": self.classified,
            "object_errors": self.errors,
            "skipped": self.skipped,
            "second_stage_ms_per_frame": round(self._second_stage_s * 1000.0 / self.frames, 3) if self.frames else None,
            "invoke_ms_per_object": round(self._object_invoke_ms / self.classified, 3) if self.classified else None,
        }
