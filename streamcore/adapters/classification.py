"""Top-k classes from a classifier's score vector."""

from __future__ import annotations

from typing import Any, List, Mapping, Optional

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError, ModelError
from ..types import Class, Result
from .labels import LabelsArg, as_label_map

__all__ = ["Classify", "get_classes"]


def get_classes(
    scores: NDArray[Any],
    top_k: int = 5,
    threshold: float = 0.0,
    labels: Optional[Mapping[int, str]] = None,
) -> List[Class]:
    """The ``top_k`` classes scoring at least ``threshold``, best first; equal scores are
    ordered by lower id. ``scores`` is one score per class in any shape ([N] or [1, N]);
    it is compared as given, so pass dequantized scores to use a real-valued threshold."""
    _check_top_k(top_k)
    flat = np.ravel(scores)
    ids = np.flatnonzero(flat >= threshold)  # NaN scores never pass
    kept = flat[ids]
    if ids.size > top_k:
        # O(N) selection of the k-th best value; ties at it are filled by lowest id so the
        # answer does not depend on partition order.
        kth_value = np.partition(kept, ids.size - top_k)[ids.size - top_k]
        above = np.flatnonzero(kept > kth_value)
        at = np.flatnonzero(kept == kth_value)[: top_k - above.size]
        chosen = np.concatenate([above, at])
        ids, kept = ids[chosen], kept[chosen]
    # lexsort's last key is primary; float64 so negating unsigned scores cannot wrap.
    order = np.lexsort((ids, -kept.astype(np.float64)))
    return [
        Class(id=int(i), score=float(s), label=labels.get(int(i)) if labels else None)
        for i, s in zip(ids[order], kept[order])
    ]


class Classify:
    """Adapter turning a classifier's output 0 into the top-k ``Class`` results."""

    def __init__(self, top_k: int = 5, threshold: float = 0.0, labels: LabelsArg = None) -> None:
        _check_top_k(top_k)
        self.top_k = top_k
        self.threshold = float(threshold)
        self.labels = as_label_map(labels)

    def __call__(self, result: Result) -> List[Class]:
        if not result.outputs:
            raise ModelError("the model has no outputs: Classify needs a classifier with a "
                             "[1, N] score output")
        raw = result.outputs[0]
        if raw.size == 0 or sum(1 for d in raw.shape if d != 1) > 1:
            raise ModelError(f"output 0 has shape {list(raw.shape)}, not the [1, N] scores of a "
                             f"classifier: use Detect for SSD detection models, or a custom adapter")
        scores = result.output_details[0].dequantize(raw) if result.output_details else raw
        return get_classes(scores, self.top_k, self.threshold, self.labels)

    def __repr__(self) -> str:
        return f"Classify(top_k={self.top_k}, threshold={self.threshold})"


def _check_top_k(top_k: int) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise InputError(f"top_k must be a whole number >= 1, got {top_k!r}")
