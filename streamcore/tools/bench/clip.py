"""The synthetic clip (encoded once with PyAV into the user cache) and decoded frames."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Sequence

import av
import numpy as np

from ...errors import InputError, SourceError
from ...sources.urls import redact
from ..synthetic.cache import cache_dir

__all__ = ["synthetic_clip", "DecodedVideo", "decode_frames", "check_videos", "CLIP_SIZE", "CLIP_FPS"]

CLIP_SIZE = (640, 360)
CLIP_FPS = 30
CLIP_SECONDS = 8
CLIP_VERSION = 1


def _clip_frames(width: int, height: int, count: int) -> Any:
    """Moving colour gradients and a bouncing block: content changes every frame, as in a video."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(count):
        t = i / CLIP_FPS
        rgb = np.empty((height, width, 3), np.uint8)
        rgb[..., 0] = (128 + 127 * np.sin(x / 37.0 + t * 2.0)).astype(np.uint8)
        rgb[..., 1] = (128 + 127 * np.sin(y / 23.0 - t * 3.0)).astype(np.uint8)
        rgb[..., 2] = ((x + y + i * 4) % 256).astype(np.uint8)
        bx = int((width - 80) * (0.5 + 0.5 * np.sin(t * 1.3)))
        by = int((height - 80) * (0.5 + 0.5 * np.cos(t * 0.9)))
        rgb[by:by + 80, bx:bx + 80] = (250, 250, 250)
        yield rgb


def synthetic_clip() -> Path:
    """An 8 s 640x360 30 fps H.264 (else MPEG-4) clip, encoded on first use and cached."""
    path = cache_dir() / "clips" / f"synthetic-{CLIP_SIZE[0]}x{CLIP_SIZE[1]}-{CLIP_FPS}fps-v{CLIP_VERSION}.mp4"
    if path.is_file() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp.mp4")
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    width, height = CLIP_SIZE
    try:
        with av.open(str(temp), "w") as out:
            stream: Any = out.add_stream(codec, rate=CLIP_FPS)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            if codec == "libx264":
                stream.options = {"preset": "veryfast", "crf": "23"}
            for rgb in _clip_frames(width, height, CLIP_FPS * CLIP_SECONDS):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def check_videos(paths: Sequence[str]) -> None:
    for p in paths:
        if not os.path.isfile(p):
            raise InputError(f"video not found: {redact(p)}; pass the path of a video file to --video")


@dataclass
class DecodedVideo:
    path: str
    frames: List[Any]  # av.VideoFrame
    decode_ms: List[float]  # per frame, one thread

    @property
    def size(self) -> str:
        f = self.frames[0]
        return f"{f.width}x{f.height} {f.format.name}"


def decode_frames(path: str, count: int) -> DecodedVideo:
    """The first `count` frames, decoded on one thread, each decode timed."""
    frames: List[Any] = []
    times: List[float] = []
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise InputError(f"{redact(path)} has no video stream; pass a video file to --video")
            stream = container.streams.video[0]
            stream.thread_count = 1
            decoder = container.decode(stream)
            while len(frames) < count:
                t = time.perf_counter()
                try:
                    frame = next(decoder)
                except StopIteration:
                    break
                times.append((time.perf_counter() - t) * 1000.0)
                frames.append(frame)
    except av.error.FFmpegError as e:
        raise SourceError(f"cannot decode {redact(path)}: {redact(str(e))}; pass a playable video file") from None
    if not frames:
        raise InputError(f"{redact(path)} has no decodable video frames; pass another video")
    return DecodedVideo(path, frames, times)
