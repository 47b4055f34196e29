"""Still images decoded with PyAV (JPEG, PNG, BMP, ...), kept as VideoFrames so they reach
preprocess without a conversion copy."""

from __future__ import annotations

import os
from typing import Union

import av

from ..errors import SourceError

__all__ = ["load_image"]


def load_image(path: Union[str, "os.PathLike[str]"]) -> "av.VideoFrame":
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SourceError(f"image not found: {path}")
    try:
        with av.open(path) as container:
            for frame in container.decode(video=0):
                return frame
    except (av.error.FFmpegError, ValueError, IndexError) as e:
        raise SourceError(f"cannot decode {path} as an image: {e}") from None
    raise SourceError(f"{path} holds no image")
