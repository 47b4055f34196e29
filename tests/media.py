"""Test media made with PyAV: small H.264 clips, and an MPEG-TS live server for loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple

import av
import numpy as np
from numpy.typing import NDArray

HERE = Path(__file__).resolve().parent


def pattern(index: int, width: int, height: int) -> "NDArray[np.uint8]":
    """A moving gradient whose content depends on the frame index."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(1, width - 1) + index * 7) % 256
    g = (y * 255 // max(1, height - 1) + index * 3) % 256
    b = np.full_like(r, (index * 11) % 256)
    out: "NDArray[np.uint8]" = np.stack([r, g, b], axis=-1).astype(np.uint8)
    return out


def make_clip(
    path: Path,
    frames: int = 30,
    size: Tuple[int, int] = (160, 120),
    fps: int = 10,
    *,
    container_format: Optional[str] = None,
    options: Optional[Dict[str, str]] = None,
    start_index: int = 0,
    x264: Optional[Dict[str, str]] = None,
) -> Path:
    """Writes `frames` frames of H.264 (ultrafast, zerolatency unless `x264` gives the
    encoder's options) to `path`; returns it."""
    width, height = size
    with av.open(str(path), "w", format=container_format, options=options or {}) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        encoder: Dict[str, object] = {"preset": "ultrafast", "tune": "zerolatency"} if x264 is None else dict(x264)
        stream.options = encoder
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(start_index + i, width, height), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def count_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def reencode(src: Path, dst: Path, size: Tuple[int, int], max_frames: int) -> Path:
    """Re-encodes the first `max_frames` frames of `src` at `size` (H.264, MP4)."""
    if dst.exists():
        return dst
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        vin = inp.streams.video[0]
        rate = vin.average_rate or Fraction(25)
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i, frame in enumerate(inp.decode(vin)):
            if i >= max_frames:
                break
            scaled = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            scaled.pts = i
            scaled.time_base = 1 / Fraction(rate)
            out.mux(stream.encode(scaled))
        out.mux(stream.encode(None))
    tmp.rename(dst)
    return dst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_ts_server(port: int, fps: int = 20, seconds: float = 60.0, size: Tuple[int, int] = (160, 120),
                    protocol: str = "tcp") -> "subprocess.Popen[bytes]":
    """A live MPEG-TS/H.264 server on tcp://127.0.0.1:port, or a sender to
    udp://127.0.0.1:port (PyAV, in a subprocess)."""
    return subprocess.Popen(
        [sys.executable, str(HERE / "live_server.py"), str(port), str(fps), str(seconds), str(size[0]), str(size[1]),
         protocol],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def video_frame(path: Path, index: int) -> "av.VideoFrame":
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame
    raise AssertionError(f"{path} has fewer than {index + 1} frames")


def make_coded_clip(
    path: Path,
    codec: str,
    pix_fmt: str,
    frames: int = 12,
    size: Tuple[int, int] = (160, 120),
    fps: int = 10,
    options: Optional[Dict[str, str]] = None,
) -> Path:
    """Writes `frames` frames of `codec` in `pix_fmt` (e.g. mjpeg/yuvj422p, libx265/yuv420p10le)."""
    width, height = size
    with av.open(str(path), "w") as out:
        stream: "av.VideoStream" = out.add_stream(codec, rate=fps)  # type: ignore[assignment]
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = dict(options or {})
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(i, width, height), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def encoder_or_skip(name: str) -> None:
    """Skips the test (with the reason) when this FFmpeg build has no `name` encoder."""
    import pytest

    if name not in av.codecs_available:
        pytest.skip(f"this PyAV/FFmpeg build has no {name} encoder")
    try:
        av.codec.Codec(name, "w")
    except Exception as e:  # a decoder-only build
        pytest.skip(f"cannot open the {name} encoder: {e}")
