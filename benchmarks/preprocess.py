"""Fused preprocess vs PyAV reformat vs OpenCV cvtColor+resize, single-threaded, side by side.

The goal: the fused bilinear kernel at least 5x faster than PyAV `frame.reformat(w, h, format='rgb24')`
(its default interpolation, and BILINEAR) and faster than OpenCV, on 1080p/720p yuv420p frames.
Every contender runs on one thread (cv2.setNumThreads(1), PyAV threads=1); the fused timings include
wrapping the PyAV frame (to_frame_view), as a caller would pay it.

A second table covers camera formats (yuvj422p from MJPEG webcams, yuvj444p JPEG stills,
yuv420p10le HEVC Main10) against yuv420p: fused (the kernel reads the format), swscale
reformat to yuv420p + fused (what streamcore did before it read them), PyAV
`reformat(w, h, format='rgb24')` and OpenCV (chroma upsampled, cvtColor, resize; 10-bit
shifted to 8 first). Goal: fused >= 5x PyAV on every row.

Contenders take turns (a few warm-up calls, then timed ones) so that a change of load on the
machine touches them all alike; each runs with its own data warm, as for a stream's next frame.
--cold instead evicts the caches before every call (a frame fresh from a decoder on another
core is often out of this core's caches): memory then bounds the fused kernel, which reads only
the rows it needs but at a stride the hardware prefetchers follow less well.
PyAV's default interpolation is BILINEAR (PyAV 18: `interpolation=None` means SWS_BILINEAR);
both columns are kept, and the faster one counts.

Usage: python benchmarks/preprocess.py [--repeat N] [--json] [--formats-only] [--cold]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any, Callable, Dict, List

import sys
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from streamcore import _core  # noqa: E402
from streamcore.engine.frames import to_frame_view  # noqa: E402


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    return together_ms({"fn": fn}, repeat)["fn"]


# --cold: a buffer read before every timed call, larger than this machine's caches, so each call
# finds its frame in memory rather than cache (as a frame decoded on another core may be).
_EVICT: List[Any] = []


def together_ms(contenders: Dict[str, Callable[[], Any]], repeat: int, block: int = 10,
                warm: int = 3) -> Dict[str, float]:
    """Median ms of each contender over `repeat` calls, taken in turns: each turn runs one
    contender `warm` untimed calls then `block` timed ones, and the turns rotate, so a change of
    load on the machine touches them all alike while each runs with its own data warm (a 6 MB
    OpenCV intermediate evicts the others' frame; it takes the kernels a few calls to recover)."""
    names = list(contenders)
    samples: Dict[str, List[float]] = {name: [] for name in names}
    turn = 0
    while len(samples[names[-1]]) < repeat:
        for k in range(len(names)):
            name = names[(turn + k) % len(names)]
            fn = contenders[name]
            for _ in range(0 if _EVICT else warm):
                fn()
            for _ in range(block):
                if _EVICT:
                    np.bitwise_xor.reduce(_EVICT[0])
                start = time.perf_counter()
                fn()
                samples[name].append((time.perf_counter() - start) * 1e3)
        turn += 1
    return {name: statistics.median(v) for name, v in samples.items()}


def make_frame(width: int, height: int) -> Any:
    yy, xx = np.mgrid[0:height, 0:width]
    noise = np.random.default_rng(0).integers(0, 64, (height, width, 3))
    rgb = np.stack([xx % 256, yy % 256, (xx + yy) % 256], axis=-1) // 2 + noise
    return av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24").reformat(format="yuv420p")


FORMATS = ["yuv420p", "yuvj422p", "yuvj444p", "yuv420p10le"]


def plane_arrays(frame: Any) -> List[Any]:
    """The frame's planes as (rows, samples) arrays without their padding."""
    out = []
    deep = frame.format.name.endswith("10le")
    for p in frame.planes:
        a = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)
        if deep:
            a = a.view(np.uint16)
        out.append(a[:, : p.width])
    return out


def opencv_path(frame: Any, size: int) -> Callable[[], Any]:
    """The best plain OpenCV route to an RGB tensor for this format."""
    fmt, width, height = frame.format.name, frame.width, frame.height
    y, u, v = plane_arrays(frame)
    if fmt == "yuv420p10le":
        def run() -> Any:
            i420 = np.concatenate([(y >> 2).astype(np.uint8).reshape(-1), (u >> 2).astype(np.uint8).reshape(-1),
                                   (v >> 2).astype(np.uint8).reshape(-1)]).reshape(height * 3 // 2, width)
            return cv2.resize(cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420), (size, size), interpolation=cv2.INTER_LINEAR)
        return run
    if fmt == "yuv420p":
        i420 = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(height * 3 // 2, width)
        return lambda: cv2.resize(cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420), (size, size), interpolation=cv2.INTER_LINEAR)

    def run_full() -> Any:  # 4:2:2 / 4:4:4: upsample chroma, merge, convert (full-range BT.601), resize
        cr = v if v.shape[1] == width else cv2.resize(v, (width, height), interpolation=cv2.INTER_NEAREST)
        cb = u if u.shape[1] == width else cv2.resize(u, (width, height), interpolation=cv2.INTER_NEAREST)
        rgb = cv2.cvtColor(cv2.merge([y, cr, cb]), cv2.COLOR_YCrCb2RGB)
        return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR)
    return run_full


def fused_avx2(frame: Any, out: Any, params: Any) -> Any:
    """The fused kernel with its AVX-512 paths (tap permutes, two-row blends) turned off (the same as
    `fused` on a CPU without them)."""
    previous = _core._set_preprocess_avx512(False)
    try:
        return _core.preprocess(to_frame_view(frame), out, params, 1 / 128, 128)
    finally:
        _core._set_preprocess_avx512(previous)


def bench_formats(repeat: int) -> List[Dict[str, Any]]:
    cv2.setNumThreads(1)
    rows = []
    for width, height in [(1920, 1080), (1280, 720)]:
        source = make_frame(width, height).reformat(format="rgb24")
        for fmt in FORMATS:
            frame = source.reformat(format=fmt)
            for size in (224, 300):
                out = np.empty((size, size, 3), np.uint8)
                params = _core.PreprocessParams()
                row: Dict[str, Any] = {"frame": f"{width}x{height}", "format": fmt, "tensor": f"{size}x{size}",
                                       "native": to_frame_view(frame).format != "yuv420p" or fmt == "yuv420p"}
                row.update(together_ms({
                    "fused": lambda: _core.preprocess(to_frame_view(frame), out, params, 1 / 128, 128),
                    "fused_avx2": lambda: fused_avx2(frame, out, params),
                    "reformat_fused": lambda: _core.preprocess(to_frame_view(frame.reformat(format="yuv420p", threads=1)),
                                                               out, params, 1 / 128, 128),
                    "pyav": lambda: frame.reformat(size, size, format="rgb24", threads=1),
                    "pyav_bilinear": lambda: frame.reformat(size, size, format="rgb24", interpolation="BILINEAR",
                                                            threads=1),
                    "opencv": opencv_path(frame, size),
                }, repeat))
                rows.append(row)
    return rows


def print_formats(rows: List[Dict[str, Any]]) -> None:
    print(f"{'case':<34}{'native':>7}{'fused':>8}{'avx2':>7}{'swscale+fused':>14}{'pyav':>8}{'pyav-bl':>9}{'opencv':>8}"
          f"{'x avx2':>7}{'x swscale':>10}{'x pyav':>8}{'x opencv':>9}{'goal':>6}")
    for r in rows:
        f = r["fused"]
        goal = min(r["pyav"], r["pyav_bilinear"]) / f >= 5
        case = f"{r['frame']} {r['format']} -> {r['tensor']}"
        print(f"{case:<34}{'yes' if r['native'] else 'no':>7}{f:8.3f}{r['fused_avx2']:7.3f}{r['reformat_fused']:14.3f}"
              f"{r['pyav']:8.3f}{r['pyav_bilinear']:9.3f}{r['opencv']:8.3f}{r['fused_avx2'] / f:7.2f}{r['reformat_fused'] / f:10.1f}"
              f"{min(r['pyav'], r['pyav_bilinear']) / f:8.1f}{r['opencv'] / f:9.1f}{'met' if goal else 'no':>6}")
    print("times in ms (median, one thread); native: the kernel reads the format as decoded;")
    print("avx2: the fused kernel with its AVX-512 paths off; x = speed-up of fused over that, over swscale reformat +")
    print("fused, over the faster PyAV row, over OpenCV; goal: >= 5x PyAV")


def bench(repeat: int) -> List[Dict[str, Any]]:
    cv2.setNumThreads(1)
    rows = []
    for width, height in [(1920, 1080), (1280, 720)]:
        frame = make_frame(width, height)
        i420 = np.concatenate([np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width].reshape(-1)
                               for p in frame.planes]).reshape(height * 3 // 2, width)
        for size in (224, 300):
            out = np.empty((size, size, 3), np.uint8)
            bilinear, area = _core.PreprocessParams(), _core.PreprocessParams(filter="area")
            row: Dict[str, Any] = {"frame": f"{width}x{height}", "tensor": f"{size}x{size}"}
            row.update(together_ms({
                "fused_bilinear": lambda: _core.preprocess(to_frame_view(frame), out, bilinear, 1 / 128, 128),
                "fused_area": lambda: _core.preprocess(to_frame_view(frame), out, area, 1 / 128, 128),
                "pyav": lambda: frame.reformat(size, size, format="rgb24", threads=1),
                "pyav_bilinear": lambda: frame.reformat(size, size, format="rgb24", interpolation="BILINEAR", threads=1),
                "opencv": lambda: cv2.resize(cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420), (size, size),
                                             interpolation=cv2.INTER_LINEAR),
            }, repeat))
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=200, help="timed repetitions per case (median reported)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--formats-only", action="store_true", help="only the camera-format table")
    parser.add_argument("--cold", action="store_true",
                        help="evict the caches (read 64 MiB) before every timed call, for every contender")
    args = parser.parse_args()
    if args.cold:
        _EVICT.append(np.ones(64 << 17, np.uint64))
    format_rows = bench_formats(args.repeat)
    if args.formats_only:
        if args.json:
            print(json.dumps(format_rows, indent=2))
        else:
            print_formats(format_rows)
        return
    rows = bench(args.repeat)
    if args.json:
        print(json.dumps({"yuv420p": rows, "formats": format_rows}, indent=2))
        return
    print_formats(format_rows)
    print()
    print(f"{'case':<22}{'fused':>8}{'area':>8}{'pyav':>8}{'pyav-bl':>9}{'opencv':>8}"
          f"{'x pyav':>8}{'x pyav-bl':>10}{'x opencv':>9}{'area x pyav':>12}{'goal':>6}")
    for r in rows:
        f = r["fused_bilinear"]
        goal = min(r["pyav"], r["pyav_bilinear"]) / f >= 5 and r["opencv"] > f
        print(f"{r['frame'] + ' -> ' + r['tensor']:<22}{f:8.3f}{r['fused_area']:8.3f}{r['pyav']:8.3f}"
              f"{r['pyav_bilinear']:9.3f}{r['opencv']:8.3f}{r['pyav'] / f:8.1f}{r['pyav_bilinear'] / f:10.1f}"
              f"{r['opencv'] / f:9.1f}{r['pyav'] / r['fused_area']:12.1f}{'met' if goal else 'no':>6}")
    print("times in ms (median); x = speed-up of the fused bilinear kernel (area x pyav: of the area filter);")
    print("goal: >= 5x PyAV (default and BILINEAR) and faster than OpenCV")

if __name__ == "__main__":
    main()
