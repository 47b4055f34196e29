"""Slow float64 numpy reference of the fused preprocess semantics (dense weight matrices)."""

from __future__ import annotations

import math
from typing import Any, List, Optional, Tuple

import numpy as np

KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}
# YUV formats: (chroma shift x, chroma shift y, chroma layout, bits, bits in the high end of 16).
YUV = {
    "yuv420p": (1, 1, "planar", 8, False),
    "yuv422p": (1, 0, "planar", 8, False),
    "yuv444p": (0, 0, "planar", 8, False),
    "nv12": (1, 1, "uv", 8, False),
    "nv21": (1, 1, "vu", 8, False),
    "yuv420p10le": (1, 1, "planar", 10, False),
    "yuv422p10le": (1, 0, "planar", 10, False),
    "yuv444p10le": (0, 0, "planar", 10, False),
    "p010le": (1, 1, "uv", 10, True),
}
GRAY = {"gray8": (8, False), "gray10le": (10, False), "gray16le": (16, True)}


def pixels(plane: Any, bits: int, high: bool) -> Any:
    """Samples on the 8-bit scale: value / 2^(bits - 8) (10-bit in the low bits clamped to 1023)."""
    p = plane.astype(np.float64)
    if bits == 8:
        return p
    if high:
        return p / 256.0
    return np.minimum(p, 2**bits - 1) / 2 ** (bits - 8)
Geo = Tuple[Tuple[int, int, int, int], Tuple[float, float, float, float], Tuple[int, int, int, int]]


def plan(fw: int, fh: int, tw: int, th: int, fit: str, roi: Optional[Tuple[int, int, int, int]]) -> Geo:
    rx, ry, rw, rh = roi if roi else (0, 0, fw, fh)
    sx, sy, sw, sh = float(rx), float(ry), float(rw), float(rh)
    dx, dy, dw, dh = 0, 0, tw, th
    if fit == "letterbox":
        if tw * rh <= th * rw:
            dh = min(max(int(math.floor(rh * tw / rw + 0.5)), 1), th)
        else:
            dw = min(max(int(math.floor(rw * th / rh + 0.5)), 1), tw)
        dx, dy = (tw - dw) // 2, (th - dh) // 2
    elif fit == "center_crop":
        if tw * rh >= th * rw:
            sh = rw * th / tw
        else:
            sw = rh * tw / th
        sx, sy = rx + (rw - sw) / 2, ry + (rh - sh) / 2
    return (rx, ry, rw, rh), (sx, sy, sw, sh), (dx, dy, dw, dh)


def weights(filt: str, n: int, origin: float, length: float, lo: int, hi: int, size: int, chroma: bool) -> Any:
    """Dense (n, size) matrix: output sample i as a mix of source samples."""
    w = np.zeros((n, size))
    scale = length / n
    for i in range(n):
        if filt == "nearest":
            u = origin + (i + 0.5) * scale
            if chroma:
                u = u / 2
            w[i, min(max(int(math.floor(u)), lo), hi)] = 1.0
        elif filt == "bilinear":
            u = origin + (i + 0.5) * scale - 0.5
            if chroma:
                u = (u + 0.5) / 2 - 0.5
            u = min(max(u, lo), hi)
            x0 = int(math.floor(u))
            f = u - x0
            w[i, x0] += 1 - f
            if f > 0:
                w[i, min(x0 + 1, hi)] += f
        else:
            a, b = origin + i * scale, origin + (i + 1) * scale
            if chroma:
                a, b = a / 2, b / 2
            a, b = max(a, lo), min(b, hi + 1)
            for j in range(int(math.floor(a)), int(math.ceil(b))):
                w[i, j] = max(0.0, min(b, j + 1) - max(a, j))
            w[i] /= w[i].sum()
    return w


def resample(plane: Any, filt: str, geo: Geo, chroma: bool, chroma_y: Optional[bool] = None) -> Any:
    """`chroma`: the plane is halved horizontally (and vertically too unless chroma_y says otherwise)."""
    (rx, ry, rw, rh), (sx, sy, sw, sh), (dx, dy, dw, dh) = geo
    cx, cy = int(chroma), int(chroma if chroma_y is None else chroma_y)
    lox, hix, loy, hiy = rx >> cx, (rx + rw - 1) >> cx, ry >> cy, (ry + rh - 1) >> cy
    wx = weights(filt, dw, sx, sw, lox, hix, plane.shape[1], bool(cx))
    wy = weights(filt, dh, sy, sh, loy, hiy, plane.shape[0], bool(cy))
    return wy @ (plane.astype(np.float64) @ wx.T)


def reference(
    fmt: str,
    planes: List[Any],
    width: int,
    height: int,
    out_shape: Tuple[int, int, int],
    dtype: Any,
    *,
    matrix: str = "bt601",
    range_: str = "limited",
    fit: str = "stretch",
    filt: str = "bilinear",
    roi: Optional[Tuple[int, int, int, int]] = None,
    mean: float = 128.0,
    std: float = 128.0,
    pad_value: int = 0,
    bgr: bool = False,
    scale: float = 0.0,
    zero_point: int = 0,
) -> Any:
    """planes: 2-D (rows, samples) arrays as the kernel sees them (packed formats H x W*C; 10/16-bit
    formats uint16 samples)."""
    th, tw, tc = out_shape
    geo = plan(width, height, tw, th, fit, roi)
    kr, kb = KR_KB[matrix]
    kg = 1 - kr - kb
    if fmt in YUV:
        shift_x, shift_y, layout, bits, high = YUV[fmt]
        y = resample(pixels(planes[0][:height, :width], bits, high), filt, geo, False)
        full = range_ == "full"
        ys, cs = (1.0, 1.0) if full else (255 / 219, 255 / 224)
        yp = (y - (0 if full else 16)) * ys
        if tc == 1:
            pix = [yp]
        else:
            cw, ch = -(-width // (1 << shift_x)), -(-height // (1 << shift_y))
            if layout == "planar":
                u_plane, v_plane = planes[1][:ch, :cw], planes[2][:ch, :cw]
            else:
                uv = planes[1][:ch, : 2 * cw]
                u_plane, v_plane = (uv[:, 0::2], uv[:, 1::2]) if layout == "uv" else (uv[:, 1::2], uv[:, 0::2])
            u = (resample(pixels(u_plane, bits, high), filt, geo, bool(shift_x), bool(shift_y)) - 128) * cs
            v = (resample(pixels(v_plane, bits, high), filt, geo, bool(shift_x), bool(shift_y)) - 128) * cs
            r = yp + 2 * (1 - kr) * v
            g = yp - 2 * kb * (1 - kb) / kg * u - 2 * kr * (1 - kr) / kg * v
            b = yp + 2 * (1 - kb) * u
            pix = [r, g, b]
    elif fmt in GRAY:
        pix = [resample(pixels(planes[0][:height, :width], *GRAY[fmt]), filt, geo, False)] * tc
    else:
        step = 4 if fmt in ("rgba", "bgra") else 3
        order = (2, 1, 0) if fmt in ("bgr24", "bgra") else (0, 1, 2)
        rgb = [resample(planes[0][:height, o : width * step : step], filt, geo, False) for o in order]
        pix = [kr * rgb[0] + kg * rgb[1] + kb * rgb[2]] if tc == 1 else rgb
    if tc == 3 and bgr:
        pix = pix[::-1]
    content = np.clip(np.stack(pix, axis=-1), 0, 255)
    _, _, (dx, dy, dw, dh) = geo
    image = np.full((th, tw, tc), float(pad_value))
    image[dy : dy + dh, dx : dx + dw] = content
    real = (image - mean) / std
    if dtype == np.float32:
        return real.astype(np.float32)
    info = np.iinfo(dtype)
    q = real / scale + zero_point if scale > 0 else image - (128 if dtype == np.int8 else 0)
    return np.clip(np.floor(q + 0.5), info.min, info.max).astype(dtype)
