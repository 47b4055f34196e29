"""Tiny models whose graph is input -> edgetpu-custom-op -> outputs, for the simulator tests
(the builder lives in streamcore.tools.synthetic; the bench uses it too), and what the
simulator answers for a frame."""

from typing import Any, List

import numpy as np
from numpy.typing import NDArray

from streamcore._native import core
from streamcore.tools.synthetic.edgetpu import edgetpu_model

__all__ = ["edgetpu_model", "random_frames", "sim_expected_class"]


def random_frames(n: int, seed: int = 0) -> List[NDArray[Any]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(n)]


def sim_expected_class(frame: NDArray[Any], height: int, width: int, classes: int) -> int:
    """The simulator's output 0 peaks at (sum of the input tensor's bytes) % size."""
    tensor = np.zeros((1, height, width, 3), np.uint8)
    core.preprocess(core.FrameView("rgb24", frame.shape[1], frame.shape[0], [frame]), tensor,
                    core.PreprocessParams(), 1 / 128, 128)
    return int(tensor.astype(np.int64).sum() % classes)
