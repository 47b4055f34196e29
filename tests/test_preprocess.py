"""The fused preprocess kernel against the float64 numpy reference, plus safety and adapters."""

from __future__ import annotations

import gc
import itertools
from pathlib import Path
from typing import Any, List, Optional, Tuple

import numpy as np
import pytest

from streamcore import _core
from streamcore.errors import InputError, RoiError
from streamcore.engine.frames import to_frame_view
from streamcore.types import Geometry
from tests.preprocess_reference import reference

RNG = np.random.default_rng(7)


def smooth(h: int, w: int, c: int = 0) -> Any:
    """Random but locally correlated content (exercises interpolation like real video)."""
    shape = (h, w, c) if c else (h, w)
    noise = RNG.integers(0, 256, size=shape).astype(np.float64)
    ramp = (np.arange(w)[None, :] * 255.0 / max(w - 1, 1)) * np.ones((h, 1))
    if c:
        ramp = ramp[..., None]
    return np.clip(0.5 * noise + 0.5 * ramp, 0, 255).astype(np.uint8)


def yuv_planes(w: int, h: int) -> List[Any]:
    return [smooth(h, w), smooth((h + 1) // 2, (w + 1) // 2), smooth((h + 1) // 2, (w + 1) // 2)]


def make(fmt: str, w: int, h: int) -> Tuple[List[Any], List[Any]]:
    """(planes for FrameView, 2-D planes for the reference)."""
    if fmt == "yuv420p":
        p = yuv_planes(w, h)
        return p, p
    if fmt in ("nv12", "nv21"):
        y = smooth(h, w)
        uv = smooth((h + 1) // 2, 2 * ((w + 1) // 2))
        return [y, uv], [y, uv]
    if fmt == "gray8":
        g = smooth(h, w)
        return [g], [g]
    c = 4 if fmt in ("rgba", "bgra") else 3
    img = smooth(h, w, c)
    return [img], [img.reshape(h, w * c)]


def run(view: Any, shape: Tuple[int, ...], dtype: Any, params: Any, scale: float = 0.0, zp: int = 0) -> Any:
    out = np.empty(shape, dtype)
    _core.preprocess(view, out, params, scale, zp)
    return out


def assert_close(got: Any, want: Any, dtype: Any) -> None:
    if dtype == np.float32:
        np.testing.assert_allclose(got, want, atol=2.5e-2, rtol=0)
    else:
        diff = np.abs(got.astype(np.int32) - want.astype(np.int32))
        assert diff.max() <= 1, f"max diff {diff.max()} at {np.unravel_index(diff.argmax(), diff.shape)}"


QUANT = {np.uint8: (1 / 128, 128), np.int8: (1 / 128, 0), np.float32: (0.0, 0)}


@pytest.mark.parametrize("fmt", ["yuv420p", "nv12", "nv21", "rgb24", "bgr24", "rgba", "bgra", "gray8"])
@pytest.mark.parametrize("filt", ["bilinear", "area", "nearest"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.float32])
def test_formats_match_reference(fmt: str, filt: str, dtype: Any) -> None:
    w, h = 97, 61
    planes, ref_planes = make(fmt, w, h)
    view = _core.FrameView(fmt, w, h, planes, matrix="bt709", range="limited")
    params = _core.PreprocessParams(filter=filt)
    scale, zp = QUANT[dtype]
    for shape in [(24, 40, 3), (80, 130, 3), (24, 40, 1)]:
        got = run(view, shape, dtype, params, scale, zp)
        want = reference(fmt, ref_planes, w, h, shape, dtype, matrix="bt709", filt=filt, scale=scale, zero_point=zp)
        assert_close(got, want, dtype)


@pytest.mark.parametrize(
    "matrix,range_,fit,bgr", list(itertools.product(["bt601", "bt709"], ["limited", "full"], ["stretch", "letterbox", "center_crop"], [False, True]))
)
def test_colour_and_fit_match_reference(matrix: str, range_: str, fit: str, bgr: bool) -> None:
    w, h = 150, 90
    planes = yuv_planes(w, h)
    view = _core.FrameView("yuv420p", w, h, planes, matrix=matrix, range=range_)
    for shape, roi, filt in [((64, 48, 3), None, "bilinear"), ((40, 40, 3), (13, 7, 101, 60), "area"), ((30, 70, 3), (1, 3, 9, 5), "bilinear")]:
        params = _core.PreprocessParams(fit=fit, filter=filt, roi=roi, pad_value=77, bgr=bgr, mean=127.5, std=127.5)
        got = run(view, shape, np.uint8, params, 1 / 128, 128)
        want = reference("yuv420p", planes, w, h, shape, np.uint8, matrix=matrix, range_=range_, fit=fit, filt=filt,
                         roi=roi, pad_value=77, bgr=bgr, mean=127.5, std=127.5, scale=1 / 128, zero_point=128)
        assert_close(got, want, np.uint8)


def test_default_quantization_gives_pixels() -> None:
    rgb = smooth(20, 30, 3)
    out = run(to_frame_view(rgb), (20, 30, 3), np.uint8, _core.PreprocessParams(), 1 / 128, 128)
    np.testing.assert_array_equal(out, rgb)


def test_geometry_tuple_maps_back() -> None:
    view = to_frame_view(smooth(100, 200, 3))
    geo = Geometry(*_core.preprocess(view, np.empty((1, 50, 50, 3), np.uint8), _core.PreprocessParams(fit="letterbox")))
    assert (geo.dst_x, geo.dst_y, geo.dst_w, geo.dst_h) == (0, 12, 50, 25)
    assert geo.to_frame(50, 37) == pytest.approx((200, 100))
    crop = Geometry(*_core.plan_geometry(200, 100, 50, 50, _core.PreprocessParams(fit="center_crop")))
    assert (crop.src_x, crop.src_w, crop.src_h) == (50, 100, 100)


@pytest.mark.parametrize("w,h", [(1, 1), (2, 1), (1, 3), (3, 5), (7, 2)])
def test_tiny_frames(w: int, h: int) -> None:
    planes = yuv_planes(w, h)
    view = _core.FrameView("yuv420p", w, h, planes)
    for filt in ["bilinear", "area"]:
        got = run(view, (5, 4, 3), np.uint8, _core.PreprocessParams(filter=filt), 1 / 128, 128)
        want = reference("yuv420p", planes, w, h, (5, 4, 3), np.uint8, filt=filt, scale=1 / 128, zero_point=128)
        assert_close(got, want, np.uint8)


@pytest.mark.slow
def test_8k_frame() -> None:
    w, h = 7680, 4320
    planes = yuv_planes(w, h)
    view = _core.FrameView("yuv420p", w, h, planes, matrix="bt709")
    for filt in ["bilinear", "area"]:
        got = run(view, (56, 96, 3), np.uint8, _core.PreprocessParams(filter=filt), 1 / 128, 128)
        want = reference("yuv420p", planes, w, h, (56, 96, 3), np.uint8, matrix="bt709", filt=filt, scale=1 / 128, zero_point=128)
        assert_close(got, want, np.uint8)


def test_negative_and_padded_strides() -> None:
    w, h = 64, 48
    planes = yuv_planes(w, h)
    flipped = [np.flipud(p) for p in planes]
    wide = [np.zeros((p.shape[0], p.shape[1] + 29), np.uint8) for p in planes]
    for big, p in zip(wide, planes):
        big[:, 5 : 5 + p.shape[1]] = p
    padded = [big[:, 5 : 5 + p.shape[1]] for big, p in zip(wide, planes)]
    params = _core.PreprocessParams()
    base = run(_core.FrameView("yuv420p", w, h, planes), (20, 30, 3), np.uint8, params)
    np.testing.assert_array_equal(run(_core.FrameView("yuv420p", w, h, padded), (20, 30, 3), np.uint8, params), base)
    want = reference("yuv420p", [np.ascontiguousarray(p) for p in flipped], w, h, (20, 30, 3), np.uint8)
    assert_close(run(_core.FrameView("yuv420p", w, h, flipped), (20, 30, 3), np.uint8, params), want, np.uint8)
    rgb = smooth(h, w, 3)
    assert_close(run(to_frame_view(rgb[::-1]), (20, 30, 3), np.uint8, params),
                 reference("rgb24", [np.ascontiguousarray(rgb[::-1]).reshape(h, -1)], w, h, (20, 30, 3), np.uint8), np.uint8)


def test_pyav_frames(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    rgb = smooth(120, 160, 3)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    view = to_frame_view(frame)
    assert (view.format, view.matrix, view.range) == ("yuv420p", "bt601", "limited")
    planes = [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width] for p in frame.planes]
    got = run(view, (60, 80, 3), np.uint8, _core.PreprocessParams())
    assert_close(got, reference("yuv420p", planes, 160, 120, (60, 80, 3), np.uint8), np.uint8)
    # Colour round trip of smooth content through PyAV's conversion: close to the original RGB.
    yy, xx = np.mgrid[0:120, 0:160]
    gradient = np.stack([xx * 1.5, yy * 2.0, 255 - xx], axis=-1).astype(np.uint8)
    trip = to_frame_view(av.VideoFrame.from_ndarray(gradient, format="rgb24").reformat(format="yuv420p"))
    assert np.abs(run(trip, (120, 160, 3), np.uint8, _core.PreprocessParams()).astype(int) - gradient).mean() < 3

    nv12 = frame.reformat(format="nv12")
    nv_view = to_frame_view(nv12)
    assert nv_view.format == "nv12"
    nv_planes = [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size) for p in nv12.planes]
    assert_close(run(nv_view, (60, 80, 3), np.uint8, _core.PreprocessParams()),
                 reference("nv12", nv_planes, 160, 120, (60, 80, 3), np.uint8), np.uint8)

    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.roll(rgb, i * 5, axis=1), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(path)) as container:
        decoded = next(container.decode(video=0))
    view = to_frame_view(decoded)
    planes = [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size) for p in decoded.planes]
    assert_close(run(view, (50, 50, 3), np.uint8, _core.PreprocessParams()),
                 reference("yuv420p", planes, 160, 120, (50, 50, 3), np.uint8, matrix=view.matrix, range_=view.range), np.uint8)


def test_numpy_i420_and_nv12_arrays() -> None:
    w, h = 40, 30
    packed = smooth(h * 3 // 2, w)
    y, u, v = packed[:h], packed[h:].reshape(-1, w // 2)[: h // 2], packed[h:].reshape(-1, w // 2)[h // 2 :]
    got = run(to_frame_view(packed, format="yuv420p"), (10, 10, 3), np.uint8, _core.PreprocessParams())
    assert_close(got, reference("yuv420p", [y, u, v], w, h, (10, 10, 3), np.uint8), np.uint8)
    got = run(to_frame_view(packed, format="nv12"), (10, 10, 3), np.uint8, _core.PreprocessParams())
    assert_close(got, reference("nv12", [y, packed[h:]], w, h, (10, 10, 3), np.uint8), np.uint8)


def test_planes_too_small_are_rejected() -> None:
    y, u, v = yuv_planes(64, 48)
    with pytest.raises(InputError, match="rows"):
        _core.FrameView("yuv420p", 64, 48, [y[:40], u, v])
    with pytest.raises(InputError, match="bytes"):
        _core.FrameView("yuv420p", 64, 48, [y, u[:, :20], v])
    flat = np.zeros(64 * 47, np.uint8)
    with pytest.raises(InputError, match="holds"):
        _core.FrameView("gray8", 64, 48, [flat], [64])
    with pytest.raises(InputError, match="stride"):
        _core.FrameView("gray8", 64, 48, [np.zeros(64 * 48, np.uint8)])
    with pytest.raises(InputError, match="uint8"):
        _core.FrameView("gray8", 4, 4, [np.zeros((4, 4), np.uint16)])
    with pytest.raises(InputError, match="unknown pixel format"):
        _core.FrameView("yuv411p", 4, 4, [y, u, v])
    with pytest.raises(InputError, match="dimensions"):
        _core.FrameView("gray8", 4, 4, [np.zeros((1, 4, 4, 1), np.uint8)])
    with pytest.raises(InputError):
        to_frame_view(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(InputError):
        to_frame_view([1, 2, 3])


def test_frame_view_keeps_buffers_alive() -> None:
    rgb = smooth(33, 45, 3)
    want = run(to_frame_view(rgb), (16, 16, 3), np.uint8, _core.PreprocessParams())
    view = to_frame_view(rgb.copy())
    gc.collect()
    del rgb
    filler = [np.full((33, 45, 3), 255, np.uint8) for _ in range(50)]
    gc.collect()
    np.testing.assert_array_equal(run(view, (16, 16, 3), np.uint8, _core.PreprocessParams()), want)
    del filler


def test_roi_errors() -> None:
    view = to_frame_view(smooth(50, 60))
    out = np.empty((8, 8, 1), np.uint8)
    with pytest.raises(RoiError, match="outside"):
        _core.preprocess(view, out, _core.PreprocessParams(roi=(50, 0, 20, 10)))
    with pytest.raises(RoiError, match="does not overlap"):
        _core.preprocess(view, out, _core.PreprocessParams(roi=(-30, 0, 20, 10)))
    with pytest.raises(RoiError, match="empty"):
        _core.PreprocessParams(roi=(0, 0, 0, 10))
    params = _core.PreprocessParams()
    with pytest.raises(RoiError):
        params.roi = (1, 1, 5, -1)
    params.roi = (1, 2, 3, 4)
    assert params.roi == (1, 2, 3, 4)


def test_bad_outputs() -> None:
    view = to_frame_view(smooth(20, 20, 3))
    p = _core.PreprocessParams()
    for out in [np.empty((8, 8, 3), np.int16), np.empty((8, 8), np.uint8), np.empty((2, 8, 8, 3), np.uint8),
                np.empty((8, 8, 2), np.uint8), np.empty((8, 16, 3), np.uint8)[:, ::2]]:
        with pytest.raises(InputError):
            _core.preprocess(view, out, p)
    with pytest.raises(InputError):
        _core.PreprocessParams(fit="zoom")
    with pytest.raises(InputError):
        _core.PreprocessParams(pad_value=300)


def test_close_to_opencv() -> None:
    cv2 = pytest.importorskip("cv2")
    w, h = 320, 240
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 0.7, yy, 255 - xx * 0.5], axis=-1).astype(np.uint8)  # cvtColor upsamples chroma nearest
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    want = cv2.resize(cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420), (100, 75), interpolation=cv2.INTER_LINEAR)
    got = run(to_frame_view(i420, format="yuv420p", matrix="bt601"), (75, 100, 3), np.uint8, _core.PreprocessParams())
    assert np.abs(got.astype(int) - want.astype(int)).mean() < 2.0


def assert_simd_equals_scalar(compute: Any) -> None:
    """`compute()` gives the same array with the SIMD kernels (AVX-512 where the CPU has it, and
    AVX2 alone) and with the scalar ones (the caller restores the previous SIMD setting)."""
    _core._set_preprocess_simd(True)
    fast = compute()
    previous = _core._set_preprocess_avx512(False)
    try:
        np.testing.assert_array_equal(fast, compute())
    finally:
        _core._set_preprocess_avx512(previous)
    _core._set_preprocess_simd(False)
    np.testing.assert_array_equal(fast, compute())


@pytest.mark.parametrize("fmt", ["yuv420p", "nv12", "rgb24", "bgra", "gray8"])
def test_simd_and_scalar_kernels_agree_exactly(fmt: str) -> None:
    """Widths that are not multiples of the vector widths (8 samples, 16 bytes) exercise every tail."""
    previous = _core._set_preprocess_simd(True)
    try:
        # The last two: 8 samples' taps within 32 and 64 elements (the permute gather's two
        # windows) and beyond 64 (the per-tap gather).
        for w, h, shape in [(203, 117, (37, 61, 3)), (45, 31, (29, 19, 3)), (96, 64, (17, 23, 1)), (33, 9, (70, 90, 3)),
                            (400, 24, (9, 60, 3)), (1200, 24, (9, 40, 3))]:
            planes, ref_planes = make(fmt, w, h)
            view = _core.FrameView(fmt, w, h, planes, matrix="bt709")
            for filt in ["bilinear", "area", "nearest"]:
                params = _core.PreprocessParams(filter=filt)
                for dtype in [np.uint8, np.int8, np.float32]:
                    scale, zp = QUANT[dtype]
                    assert_simd_equals_scalar(lambda: run(view, shape, dtype, params, scale, zp))
                want = reference(fmt, ref_planes, w, h, shape, np.uint8, matrix="bt709", filt=filt, scale=1 / 128, zero_point=128)
                assert_close(run(view, shape, np.uint8, params, 1 / 128, 128), want, np.uint8)
    finally:
        _core._set_preprocess_simd(previous)


@pytest.mark.parametrize("fmt", ["yuv420p", "nv21", "yuv444p", "rgb24", "gray8"])
def test_simd_and_scalar_agree_for_every_colour_map(fmt: str) -> None:
    """The SIMD kernel has variants per colour map (YUV to RGB or BGR skips zero terms; a clamp to
    the type's whole range is left to the saturating packs); each must give the scalar bytes
    exactly, for widths below, at and just past one vector step."""
    previous = _core._set_preprocess_simd(True)
    try:
        w, h = 61, 23
        if fmt == "yuv444p":
            planes = [smooth(h, w), smooth(h, w), smooth(h, w)]
        else:
            planes = make(fmt, w, h)[0]
        for range_ in ["limited", "full"]:
            view = _core.FrameView(fmt, w, h, planes, matrix="bt601", range=range_)
            for bgr, mean, std, c, dtype, scale, zp in [
                (False, 128.0, 128.0, 3, np.uint8, 1 / 128, 128), (True, 128.0, 128.0, 3, np.uint8, 1 / 128, 128),
                (True, 127.5, 127.5, 3, np.int8, 1 / 128, -1), (False, 0.0, 255.0, 3, np.uint8, 1 / 255, 0),
                (False, 100.0, 50.0, 1, np.int8, 0.05, 3), (True, 128.0, 128.0, 1, np.uint8, 1 / 128, 128),
                # Clamped inside the type's range ([-37, 65] and [0, 191]): the kernels clamp explicitly.
                (True, 100.0, 50.0, 3, np.int8, 0.05, 3), (False, 64.0, 64.0, 3, np.uint8, 1 / 64, 0),
            ]:
                params = _core.PreprocessParams(bgr=bgr, mean=mean, std=std)
                for tw in [5, 8, 9, 17, 40]:
                    shape = (7, tw, c)
                    assert_simd_equals_scalar(lambda: run(view, shape, dtype, params, scale, zp))
    finally:
        _core._set_preprocess_simd(previous)


def test_layouts_kept_between_calls_give_fresh_results() -> None:
    """Each thread keeps the taps of its last few layouts (frame size and format, tensor shape,
    fit, filter, ROI). Calls that alternate between more layouts than it keeps, and calls after a
    refused one, must give exactly what the first call of each layout gave."""
    w, h = 97, 61
    y420, y420_ref = make("yuv420p", w, h)
    nv12, nv12_ref = make("nv12", w, h)
    small, small_ref = make("yuv420p", 45, 31)
    v420 = _core.FrameView("yuv420p", w, h, y420, matrix="bt709")
    v12 = _core.FrameView("nv12", w, h, nv12, matrix="bt709")
    vsmall = _core.FrameView("yuv420p", 45, 31, small, matrix="bt709")
    cases = [
        (v420, (24, 40, 3), _core.PreprocessParams()),
        (v12, (24, 40, 3), _core.PreprocessParams()),
        (v420, (24, 40, 1), _core.PreprocessParams()),
        (v420, (24, 40, 3), _core.PreprocessParams(filter="area")),
        (v420, (24, 40, 3), _core.PreprocessParams(fit="letterbox")),
        (v420, (24, 40, 3), _core.PreprocessParams(roi=(10, 5, 50, 40))),
        (vsmall, (24, 40, 3), _core.PreprocessParams()),
        (v420, (40, 24, 3), _core.PreprocessParams()),
    ]
    first = [run(view, shape, np.uint8, params, 1 / 128, 128) for view, shape, params in cases]
    # The first results are right, not just repeatable.
    want = reference("yuv420p", y420_ref, w, h, (24, 40, 3), np.uint8, matrix="bt709", scale=1 / 128, zero_point=128)
    assert_close(first[0], want, np.uint8)
    want = reference("nv12", nv12_ref, w, h, (24, 40, 3), np.uint8, matrix="bt709", scale=1 / 128, zero_point=128)
    assert_close(first[1], want, np.uint8)
    want = reference("yuv420p", small_ref, 45, 31, (24, 40, 3), np.uint8, matrix="bt709", scale=1 / 128, zero_point=128)
    assert_close(first[6], want, np.uint8)
    order = list(range(len(cases)))
    for round_ in range(3):
        order = order[::-1] if round_ % 2 == 0 else order[1::2] + order[::2]
        for i in order:
            view, shape, params = cases[i]
            np.testing.assert_array_equal(run(view, shape, np.uint8, params, 1 / 128, 128), first[i])
            with pytest.raises(RoiError):
                run(view, shape, np.uint8, _core.PreprocessParams(roi=(500, 0, 5, 5)), 1 / 128, 128)
