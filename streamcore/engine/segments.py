"""A model split into segments (``edgetpu_compiler --num_segments``), pipelined across devices:
each segment on its own device, segment k's outputs feeding segment k+1's inputs by name inside
the native core, several frames in flight. The chain is checked here, from the files, before any
device is opened; the placement plan (which segment gets the spare devices) is made by the
runner once each segment's invoke time is measured."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Sequence, Tuple, Union

from ..errors import InputError, ModelError
from .model import Model, ModelSource

__all__ = ["Segments", "plan_replicas", "io_tensors"]

# tflite.TensorType -> numpy dtype name (what segments pass between them)
_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8", 10: "float64"}

Tensor = Tuple[str, Tuple[int, ...], str]  # name, shape, dtype


class Segments:
    """The segments of one model, in order: ``Segments(["m_segment_0_of_2_edgetpu.tflite",
    "m_segment_1_of_2_edgetpu.tflite"])``. ``Engine(Segments([...]), devices="usb:0,usb:1")``
    runs each on its own device (a plain list of paths does the same, as pycoral's
    ``PipelinedModelRunner`` takes a list of interpreters). Segment k+1's inputs must be outputs
    of segment k with the same names, shapes and dtypes (ModelError naming the tensors if not);
    the first segment's image input is filled from frames, its other inputs come from the caller
    (``infer(frame, inputs={name: array})``)."""

    def __init__(self, models: Sequence[ModelSource]) -> None:
        if isinstance(models, (str, bytes, bytearray, memoryview, os.PathLike, Model)):
            raise InputError("Segments takes a list of segment models, in order (segment 0 first)")
        models = list(models)
        if not models:
            raise InputError("Segments needs at least one segment model")
        self.models: List[Model] = []
        for k, source in enumerate(models):
            # A copy (a later segment takes no frames), named by its position when it has no file.
            named = isinstance(source, (bytes, bytearray, memoryview))
            model = Model(source, name=f"segment {k}" if named else None)
            if model.format != "tflite":
                raise ModelError(f"{model.name}: segments must be .tflite models, not {model.format}")
            model.takes_frames = k == 0
            self.models.append(model)
        check_chain(self.models)

    def __len__(self) -> int:
        return len(self.models)

    @property
    def name(self) -> str:
        return " -> ".join(m.name for m in self.models)

    def __repr__(self) -> str:
        return f"Segments({[m.name for m in self.models]!r})"


def io_tensors(model: Model) -> Tuple[List[Tensor], List[Tensor]]:
    """(inputs, outputs) of the model's main subgraph, as the file states them."""
    import tflite

    root: Any = tflite.Model.GetRootAsModel(model.data, 0)
    sg = root.Subgraphs(0)

    def tensor(index: int) -> Tensor:
        t = sg.Tensors(index)
        name = t.Name()
        return (
            name.decode("utf-8") if isinstance(name, bytes) else str(name),
            tuple(int(t.Shape(d)) for d in range(t.ShapeLength())),
            _TYPES.get(int(t.Type()), f"type {t.Type()}"),
        )

    inputs = [tensor(sg.Inputs(i)) for i in range(sg.InputsLength())]
    outputs = [tensor(sg.Outputs(i)) for i in range(sg.OutputsLength())]
    return inputs, outputs


def check_chain(models: Sequence[Model]) -> None:
    """ModelError unless every input of segment k+1 is an output of segment k (name, shape, dtype)."""
    for k in range(1, len(models)):
        before, after = models[k - 1], models[k]
        _, produced = io_tensors(before)
        consumed, _ = io_tensors(after)
        by_name: Dict[str, Tensor] = {t[0]: t for t in produced}
        for name, shape, dtype in consumed:
            found = by_name.get(name)
            if found is None:
                raise ModelError(
                    f"segments do not chain: input {name!r} of segment {k} ({after.name}) is not an output of "
                    f"segment {k - 1} ({before.name}), whose outputs are {sorted(by_name)}; pass the segments "
                    "of one model, in order"
                )
            if found[1] != shape or found[2] != dtype:
                raise ModelError(
                    f"segments do not chain: tensor {name!r} is {list(found[1])} {found[2]} as output of segment "
                    f"{k - 1} ({before.name}) but {list(shape)} {dtype} as input of segment {k} ({after.name})"
                )


def plan_replicas(invoke_ms: Sequence[float], spare: int) -> List[int]:
    """Devices per segment: one each, then each spare device to the segment whose per-device
    time (invoke time / devices) is the largest, which is the pipeline's bottleneck."""
    counts = [1] * len(invoke_ms)
    for _ in range(max(0, spare)):
        slowest = max(range(len(counts)), key=lambda k: (invoke_ms[k] / counts[k], -k))
        counts[slowest] += 1
    return counts


SegmentsSource = Union[Segments, Sequence[ModelSource]]
