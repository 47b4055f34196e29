"""Models split into segments, for pipelined-model tests and benchmarks.

- ``tiny_segments()``: a tiny uint8 CPU model and the same model cut in two (same weights, same
  ops), so the pipelined pair must give exactly the unsplit model's outputs. The cut passes two
  tensors, and the second segment has two outputs (multi-input, multi-output).
- ``edgetpu_segments()``: Edge TPU-shaped segments (a graph of one edgetpu-custom-op each) for the
  simulated libedgetpu, each with a latency of its own, and the whole model with their sum.
"""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import numpy as np

from ...errors import ModelError
from . import options
from .builder import GraphBuilder, Quantization
from .classifiers import _dense_parameters
from .edgetpu import CUSTOM_OP

__all__ = ["tiny_segments", "edgetpu_segments", "SEGMENT_TENSORS"]

# The tensors the cut of tiny_segments passes from segment 0 to segment 1.
SEGMENT_TENSORS = ("pool", "flatten")
_QUANT = Quantization.per_tensor(1.0 / 128.0, 128)
_GRID = 4


def tiny_segments(
    input_shape: Sequence[int] = (32, 32, 3), num_classes: int = 10, seed: int = 0
) -> Tuple[bytes, bytes, bytes]:
    """(whole, segment 0, segment 1) of one uint8 model:

    image -> AVERAGE_POOL_2D -> "pool" -> RESHAPE -> "flatten"  | segment 0 (outputs pool, flatten)
    flatten -> FULLY_CONNECTED -> SOFTMAX -> "probabilities"     | segment 1 (inputs pool, flatten)
    pool -> AVERAGE_POOL_2D (whole grid) -> "channel_means"      |

    The whole model's outputs are segment 1's: probabilities [1, classes], channel_means [1, 1, 1, C].
    """
    if len(input_shape) != 3 or min(input_shape[:2]) < _GRID or input_shape[2] < 1:
        raise ModelError(f"input_shape {tuple(input_shape)} must be (height, width, channels), sides >= {_GRID}")
    height, width, channels = (int(d) for d in input_shape)
    rng = np.random.default_rng(seed)
    fh, fw = height // _GRID, width // _GRID
    gh, gw = (height - fh) // fh + 1, (width - fw) // fw + 1
    features = gh * gw * channels
    weight_std = 2.0 / (math.sqrt(features) * 0.5)
    weights, bias, logit_quant = _dense_parameters(rng, "uint8", (num_classes, features), weight_std, _QUANT)
    softmax_quant = Quantization.per_tensor(1.0 / 256.0, 0)

    def first(g: GraphBuilder, image: int) -> Tuple[int, int]:
        pool = g.tensor("pool", (1, gh, gw, channels), "uint8", _QUANT)
        g.operator("AVERAGE_POOL_2D", [image], [pool], options.pool_2d((fh, fw), (fh, fw), "valid"))
        flat = g.tensor("flatten", (1, features), "uint8", _QUANT)
        shape = g.constant("flatten/shape", np.array([1, features], np.int32))
        g.operator("RESHAPE", [pool, shape], [flat], options.reshape([1, features]))
        return pool, flat

    def second(g: GraphBuilder, pool: int, flat: int) -> List[int]:
        w = g.constant("logits/weights", weights[0], weights[1])
        b = g.constant("logits/bias", bias[0], bias[1])
        logits = g.tensor("logits", (1, num_classes), "uint8", logit_quant)
        g.operator("FULLY_CONNECTED", [flat, w, b], [logits], options.fully_connected())
        probabilities = g.tensor("probabilities", (1, num_classes), "uint8", softmax_quant)
        g.operator("SOFTMAX", [logits], [probabilities], options.softmax(1.0))
        means = g.tensor("channel_means", (1, 1, 1, channels), "uint8", _QUANT)
        g.operator("AVERAGE_POOL_2D", [pool], [means], options.pool_2d((gh, gw), (gh, gw), "valid"))
        return [probabilities, means]

    whole = GraphBuilder("streamcore tiny segmented model (whole)")
    image = whole.tensor("input", (1, height, width, channels), "uint8", _QUANT)
    whole_bytes = whole.build([image], second(whole, *first(whole, image)))

    seg0 = GraphBuilder("streamcore tiny segmented model (segment 0 of 2)")
    image = seg0.tensor("input", (1, height, width, channels), "uint8", _QUANT)
    pool, flat = first(seg0, image)
    seg0_bytes = seg0.build([image], [pool, flat])

    seg1 = GraphBuilder("streamcore tiny segmented model (segment 1 of 2)")
    pool = seg1.tensor("pool", (1, gh, gw, channels), "uint8", _QUANT)
    flat = seg1.tensor("flatten", (1, features), "uint8", _QUANT)
    seg1_bytes = seg1.build([pool, flat], second(seg1, pool, flat))
    return whole_bytes, seg0_bytes, seg1_bytes


def edgetpu_segments(
    latencies_ms: Sequence[float] = (2.0, 2.0),
    input_size: int = 224,
    feature_sizes: Sequence[int] = (1024, 256),
    num_classes: int = 1001,
) -> Tuple[bytes, List[bytes]]:
    """(whole, [segment 0, ...]): Edge TPU-shaped segments for the simulated libedgetpu only.
    Segment k takes ``latencies_ms[k]`` per invoke on the simulator; the whole model their sum.
    Segment 0: uint8 image [1, S, S, 3] -> features_0..m; each later segment takes the previous
    one's features (same names) and gives its own, the last ``scores`` [1, num_classes]."""
    if len(latencies_ms) < 1 or any(not 0 <= ms <= 10000 for ms in latencies_ms):
        raise ModelError("latencies_ms: one latency per segment, each 0 to 10000 ms")
    quant = Quantization.per_tensor(1 / 256, 0)
    count = len(latencies_ms)

    def options_for(ms: float) -> bytes:
        return f"streamcore-sim-model latency_ms={ms:g}".encode()

    def features(g: GraphBuilder, k: int) -> List[int]:
        return [g.tensor(f"segment_{k}/features_{i}", (1, n), "uint8", quant) for i, n in enumerate(feature_sizes)]

    segments = []
    for k, ms in enumerate(latencies_ms):
        g = GraphBuilder(f"streamcore synthetic segment {k} of {count} for the simulated Edge TPU (not TPU code)")
        if k == 0:
            inputs = [g.tensor("input", (1, input_size, input_size, 3), "uint8", Quantization.per_tensor(1 / 128, 128))]
        else:
            inputs = features(g, k - 1)
        outputs = features(g, k) if k < count - 1 else [g.tensor("scores", (1, num_classes), "uint8", quant)]
        g.custom_operator(CUSTOM_OP, inputs, outputs, custom_options=options_for(ms))
        segments.append(g.build(inputs, outputs))
    g = GraphBuilder("streamcore synthetic whole model for the simulated Edge TPU (not TPU code)")
    image = g.tensor("input", (1, input_size, input_size, 3), "uint8", Quantization.per_tensor(1 / 128, 128))
    scores = g.tensor("scores", (1, num_classes), "uint8", quant)
    g.custom_operator(CUSTOM_OP, [image], [scores], custom_options=options_for(sum(latencies_ms)))
    return g.build([image], [scores]), segments
