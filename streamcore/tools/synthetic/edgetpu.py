"""Models whose graph is input -> edgetpu-custom-op -> outputs, shaped like compiled
Edge TPU models (`*_edgetpu.tflite`).

They carry no compiled Edge TPU program (the custom options are a few placeholder bytes), so
only the simulated libedgetpu can run them: they are the bench's default model on ``sim:N``
and let the simulator tests run on a fresh clone. A real Edge TPU rejects them.
"""

from __future__ import annotations

from typing import Sequence

from .builder import GraphBuilder, Quantization

__all__ = ["edgetpu_model", "edgetpu_classifier", "CUSTOM_OP"]

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
