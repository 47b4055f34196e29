"""A TFLite model: loaded from a path or bytes, verified, and described."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np

from ..errors import ModelError
from ..types import TensorInfo
from .model_check import check_input_size, check_tflite, custom_ops

__all__ = ["Model", "ModelSource", "EDGETPU_CUSTOM_OP"]

EDGETPU_CUSTOM_OP = b"edgetpu-custom-op"
IMAGE_DTYPES = ("uint8", "int8", "float32")

ModelSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, "Model"]


class Model:
    """Model bytes that passed streamcore's structural check.

    ``Model(path_or_bytes)``: a .tflite model (a truncated or garbage file raises ModelError,
    never a crash), or, for the openvino backend only, an ``.onnx`` file or OpenVINO IR
    (``.xml`` with its ``.bin`` beside it).
    """

    def __init__(self, source: ModelSource, *, name: Optional[str] = None) -> None:
        if isinstance(source, Model):
            self.data: bytes = source.data
            self.path: Optional[Path] = source.path
        elif isinstance(source, (bytes, bytearray, memoryview)):
            self.data = bytes(source)
            self.path = None
        elif isinstance(source, (str, os.PathLike)):
            self.path = Path(source)
            self.data = _read_model_file(self.path)
        else:
            raise ModelError(
                f"cannot load a model from {type(source).__name__}; pass a .tflite path or bytes"
            )
        self.name = name or (self.path.name if self.path else "model")
        # False for a later segment of a pipelined model: every input comes from the previous one.
        self.takes_frames: bool = True
        suffix = self.path.suffix.lower() if self.path else ""
        self.format = {".onnx": "onnx", ".xml": "openvino-ir"}.get(suffix, "tflite")
        if isinstance(source, Model):
            self.format = source.format
        elif self.format == "tflite":
            check_tflite(self.data, self.name)

    @classmethod
    def load(cls, source: ModelSource) -> "Model":
        return source if isinstance(source, Model) else cls(source)

    @cached_property
    def is_edgetpu(self) -> bool:
        """Compiled for the Edge TPU (has an ``edgetpu-custom-op`` node)."""
        return self.format == "tflite" and EDGETPU_CUSTOM_OP in self.data

    @cached_property
    def custom_ops(self) -> List[str]:
        """The custom ops its operators use (e.g. ``TFLite_Detection_PostProcess``)."""
        return custom_ops(self.data) if self.format == "tflite" else []

    def __repr__(self) -> str:
        kind = "edgetpu" if self.is_edgetpu else "cpu"
        return f"Model({self.name!r}, {len(self.data)} bytes, {kind})"


def _read_model_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"model file not found: {path}; pass the path of a .tflite file") from None
    except IsADirectoryError:
        raise ModelError(f"{path} is a directory; pass the path of a .tflite file") from None
    except OSError as e:
        raise ModelError(f"cannot read model {path}: {e.strerror}") from None


def tensor_infos(details: List[dict]) -> List[TensorInfo]:  # type: ignore[type-arg]
    """TensorInfo from tflite_runtime's get_input_details()/get_output_details()."""
    infos = []
    for d in details:
        scale, zero_point = d.get("quantization", (0.0, 0))
        infos.append(
            TensorInfo(
                name=str(d["name"]),
                index=int(d["index"]),
                shape=tuple(int(x) for x in d["shape"]),
                dtype=np.dtype(d["dtype"]),
                scale=float(scale),
                zero_point=int(zero_point),
            )
        )
    return infos


def image_input_shape(info: TensorInfo, model_name: str) -> Tuple[int, int, int]:
    """(height, width, channels) of an image input, or ModelError saying why it isn't one."""
    shape = info.shape
    described = f"{list(shape)} {info.dtype}"
    if len(shape) != 4 or shape[0] != 1 or shape[3] not in (1, 3):
        raise ModelError(
            f"{model_name}: input {info.name!r} is {described}, not an image tensor "
            "[1, height, width, 1 or 3]; streamcore feeds frames to image models "
            "(classifiers and detectors)"
        )
    if info.dtype.name not in IMAGE_DTYPES:
        raise ModelError(
            f"{model_name}: input {info.name!r} is {described}; image inputs must be "
            f"one of {', '.join(IMAGE_DTYPES)}"
        )
    if min(shape[1], shape[2]) < 1:
        raise ModelError(
            f"{model_name}: input {info.name!r} is {described}, with an empty or unknown side; "
            "streamcore needs a fixed [1, height, width, channels] input"
        )
    check_input_size(tuple(shape), info.dtype.itemsize, f"{model_name}: input {info.name!r}")
    return shape[1], shape[2], shape[3]


def image_input_index(inputs: List[TensorInfo], model_name: str) -> int:
    """The input preprocess fills: the only input (ModelError if it is not an image), else the
    first input shaped like an image [1, H, W, 1 or 3]; the others come from the caller."""
    if len(inputs) == 1:
        image_input_shape(inputs[0], model_name)
        return 0
    for i, info in enumerate(inputs):
        try:
            image_input_shape(info, model_name)
            return i
        except ModelError:
            continue
    described = ", ".join(f"{i.name!r} {list(i.shape)} {i.dtype}" for i in inputs)
    raise ModelError(
        f"{model_name}: none of its {len(inputs)} inputs ({described}) is an image tensor "
        "[1, height, width, 1 or 3] for frames to fill"
    )
