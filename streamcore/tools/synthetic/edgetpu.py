"""Models whose graph is input -> edgetpu-custom-op -> outputs, shaped like compiled
Edge TPU models (`*_edgetpu.tflite`).

They carry no compiled Edge TPU program (the custom options are a few placeholder bytes), so
only the simulated libedgetpu can run them: they are the bench's default model on ``sim:N``
and let the simulator tests run on a fresh clone. A real Edge TPU rejects them.
"""

from __future__ import annotations

from typing import Sequence

from .builder import GraphBuilder, Quantization

__all__ = ["edgetpu_model", "edgetpu_classifier", "edgetpu_detector", "CUSTOM_OP"]

CUSTOM_OP = "edgetpu-custom-op"


def edgetpu_model(
    height: int = 8,
    width: int = 8,
    output_sizes: Sequence[int] = (10,),
    output_type: str = "uint8",
) -> bytes:
    """A model: uint8 input [1, height, width, 3] -> edgetpu-custom-op -> outputs [1, n] per n."""
    if output_type not in ("uint8", "int8"):
        raise ValueError("output_type must be 'uint8' or 'int8'")
    graph = GraphBuilder("streamcore synthetic model for the simulated Edge TPU (not compiled TPU code)")
    image = graph.tensor("input", (1, height, width, 3), "uint8", Quantization.per_tensor(1 / 128, 128))
    out_quantization = Quantization.per_tensor(1 / 256, 0 if output_type == "uint8" else -128)
    outputs = [graph.tensor(f"output_{k}", (1, n), output_type, out_quantization) for k, n in enumerate(output_sizes)]
    graph.custom_operator(CUSTOM_OP, [image], outputs, custom_options=b"streamcore-sim-model")
    return graph.build([image], outputs)


def edgetpu_classifier(input_size: int = 224, num_classes: int = 1001) -> bytes:
    """Shaped like mobilenet_v2_1.0_224_quant_edgetpu.tflite: uint8 [1, 224, 224, 3] ->
    edgetpu-custom-op -> uint8 [1, 1001]. Runs on the simulated libedgetpu only."""
    return edgetpu_model(input_size, input_size, (num_classes,), "uint8")


def edgetpu_detector(input_size: int = 64, num_anchors: int = 64, num_classes: int = 3,
                     max_detections: int = 10) -> bytes:
    """Shaped like an SSD ``*_edgetpu.tflite``: uint8 [1, S, S, 3] -> edgetpu-custom-op (class
    scores [1, A, C + 1] and box encodings [1, A, 4], uint8) -> DEQUANTIZE ->
    TFLite_Detection_PostProcess (boxes, classes, scores, count). Runs on the simulated
    libedgetpu only; the simulator's output makes one anchor-class pair score ~1.0 per image
    (a function of the image's bytes) and every other score at most 0.25."""
    import numpy as np

    from .detector import add_postprocess

    grid = int(np.sqrt(num_anchors))
    if grid * grid != num_anchors:
        raise ValueError("num_anchors must be a square (an anchor grid)")
    g = GraphBuilder("streamcore synthetic SSD for the simulated Edge TPU (not compiled TPU code)")
    image = g.tensor("normalized_input_image_tensor", (1, input_size, input_size, 3), "uint8",
                     Quantization.per_tensor(1 / 128, 128))
    scores_q = g.tensor("raw_scores", (1, num_anchors, num_classes + 1), "uint8", Quantization.per_tensor(1 / 256, 0))
    boxes_q = g.tensor("raw_boxes", (1, num_anchors, 4), "uint8", Quantization.per_tensor(1 / 64, 128))
    g.custom_operator(CUSTOM_OP, [image], [scores_q, boxes_q], custom_options=b"streamcore-sim-model")
    scores = g.tensor("raw_scores/dequantized", (1, num_anchors, num_classes + 1), "float32")
    boxes = g.tensor("raw_boxes/dequantized", (1, num_anchors, 4), "float32")
    g.operator("DEQUANTIZE", [scores_q], [scores])
    g.operator("DEQUANTIZE", [boxes_q], [boxes])
    centers = (np.arange(grid, dtype=np.float32) + 0.5) / grid
    cy, cx = np.meshgrid(centers, centers, indexing="ij")
    size = np.full(num_anchors, 2.0 / grid, np.float32)
    anchors = g.constant("anchors", np.stack([cy.ravel(), cx.ravel(), size, size], axis=1).astype(np.float32))
    outputs = add_postprocess(g, boxes, scores, anchors, num_classes, max_detections)
    return g.build([image], outputs)
