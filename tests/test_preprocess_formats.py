"""4:2:2, 4:4:4, 10/16-bit and P010 frames in the fused kernel, and nearest-neighbour resize:
against the float64 numpy reference (±1 LSB), flush against protected pages (a read past any
plane faults), with padded and negative strides, and PyAV frames without a reformat."""

from __future__ import annotations

from typing import Any, List, Tuple

import numpy as np
import pytest

from streamcore import _core
from streamcore.engine.frames import is_native, to_frame_view
from streamcore.errors import InputError
from tests.guarded import guarded_copy
from tests.preprocess_reference import GRAY, YUV, reference
from tests.test_preprocess import QUANT, assert_close, assert_simd_equals_scalar, make, run, smooth

RNG = np.random.default_rng(12)

NEW_FORMATS = ["yuv422p", "yuv444p", "yuv420p10le", "yuv422p10le", "yuv444p10le", "p010le", "gray10le", "gray16le"]
FILTERS = ["bilinear", "area", "nearest"]


def deep(h: int, w: int, bits: int, high: bool) -> Any:
    """Smooth 16-bit samples using `bits` bits (every low bit varies, so precision shows)."""
    top = (1 << bits) - 1
    v = smooth(h, w).astype(np.uint32) * (top // 255) + RNG.integers(0, top // 255 + 1, size=(h, w))
    v = np.minimum(v, top).astype(np.uint16)
    return v << (16 - bits) if high and bits < 16 else v


def planes_for(fmt: str, w: int, h: int) -> List[Any]:
    """Planes as the kernel and the reference see them (uint16 samples for deep formats)."""
    if fmt in GRAY:
        bits, high = GRAY[fmt]
        return [smooth(h, w) if bits == 8 else deep(h, w, bits, high)]
    if fmt not in YUV:
        return make(fmt, w, h)[0]
    sx, sy, layout, bits, high = YUV[fmt]
    cw, ch = -(-w // (1 << sx)), -(-h // (1 << sy))

    def plane(rows: int, cols: int) -> Any:
        return smooth(rows, cols) if bits == 8 else deep(rows, cols, bits, high)

    if layout == "planar":
        return [plane(h, w), plane(ch, cw), plane(ch, cw)]
    return [plane(h, w), plane(ch, 2 * cw)]


def as_bytes(plane: Any) -> Any:
    """A uint16 plane as the (rows, bytes) uint8 array PyAV would hand over."""
    return plane.view(np.uint8) if plane.dtype == np.uint16 else plane


@pytest.mark.parametrize("fmt", NEW_FORMATS)
@pytest.mark.parametrize("filt", FILTERS)
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.float32])
def test_new_formats_match_reference(fmt: str, filt: str, dtype: Any) -> None:
    w, h = 97, 61
    planes = planes_for(fmt, w, h)
    view = _core.FrameView(fmt, w, h, planes, matrix="bt709", range="limited")
    params = _core.PreprocessParams(filter=filt)
    scale, zp = QUANT[dtype]
    for shape in [(24, 40, 3), (80, 130, 3), (24, 40, 1)]:
        got = run(view, shape, dtype, params, scale, zp)
        want = reference(fmt, planes, w, h, shape, dtype, matrix="bt709", filt=filt, scale=scale, zero_point=zp)
        assert_close(got, want, dtype)
    # The same samples as bytes (PyAV's planes) give the same tensor.
    as_u8 = _core.FrameView(fmt, w, h, [as_bytes(p) for p in planes], matrix="bt709", range="limited")
    np.testing.assert_array_equal(run(as_u8, (24, 40, 3), dtype, params, scale, zp),
                                  run(view, (24, 40, 3), dtype, params, scale, zp))


@pytest.mark.parametrize("fmt", ["yuv422p", "yuv444p", "yuv420p10le", "p010le"])
@pytest.mark.parametrize("matrix,range_", [("bt601", "full"), ("bt709", "full"), ("bt601", "limited")])
@pytest.mark.parametrize("fit", ["stretch", "letterbox", "center_crop"])
def test_colour_fit_and_roi_of_new_formats(fmt: str, matrix: str, range_: str, fit: str) -> None:
    w, h = 150, 91
    planes = planes_for(fmt, w, h)
    view = _core.FrameView(fmt, w, h, planes, matrix=matrix, range=range_)
    for shape, roi, filt in [((64, 48, 3), None, "bilinear"), ((40, 40, 3), (13, 7, 101, 60), "area"),
                             ((30, 70, 3), (1, 3, 9, 5), "nearest"), ((33, 21, 3), (149, 90, 1, 1), "bilinear")]:
        params = _core.PreprocessParams(fit=fit, filter=filt, roi=roi, pad_value=77, bgr=True, mean=127.5, std=127.5)
        got = run(view, shape, np.uint8, params, 1 / 128, 128)
        want = reference(fmt, planes, w, h, shape, np.uint8, matrix=matrix, range_=range_, fit=fit, filt=filt,
                         roi=roi, pad_value=77, bgr=True, mean=127.5, std=127.5, scale=1 / 128, zero_point=128)
        assert_close(got, want, np.uint8)


def test_ten_bit_samples_use_their_high_bits() -> None:
    """A 10-bit sample v reads as v / 4 on the 8-bit scale: 940/64 limited luma is white, and stray
    bits above bit 9 are clamped, not wrapped into the int16 arithmetic."""
    w, h = 16, 8
    y = np.full((h, w), 940, np.uint16)
    c = np.full((h // 2, w // 2), 512, np.uint16)
    out = run(_core.FrameView("yuv420p10le", w, h, [y, c, c]), (4, 4, 3), np.uint8, _core.PreprocessParams(), 1 / 128, 128)
    assert (out == 255).all()
    y[:] = 64
    out = run(_core.FrameView("yuv420p10le", w, h, [y, c, c]), (4, 4, 3), np.uint8, _core.PreprocessParams(), 1 / 128, 128)
    assert (out == 0).all()
    y[:] = 0xFFFF  # garbage above 10 bits: clamped to 1023 (255.75 on the 8-bit scale)
    out = run(_core.FrameView("yuv420p10le", w, h, [y, c, c]), (4, 4, 1), np.uint8, _core.PreprocessParams(), 1 / 128, 128)
    assert (out == 255).all()
    p010 = np.full((h, w), 501 << 6, np.uint16)  # grey 125.25 in the high bits
    uv = np.full((h // 2, w), 512 << 6, np.uint16)
    out = run(_core.FrameView("p010le", w, h, [p010, uv], range="full"), (4, 4, 3), np.uint8, _core.PreprocessParams(), 1 / 128, 128)
    assert (out == 125).all()


@pytest.mark.parametrize("fmt", ["yuv420p", "rgb24", "gray8", "yuv444p", "gray16le"])
def test_nearest_picks_the_sample_under_each_centre(fmt: str) -> None:
    """Halving picks odd samples, doubling repeats each one: exact, no blending."""
    w, h = 40, 30
    if fmt == "rgb24":
        img = smooth(h, w, 3)
        view = to_frame_view(img)
        half, double = img[1::2, 1::2], img.repeat(2, 0).repeat(2, 1)
        out_c = 3
    else:
        gray = smooth(h, w)
        planes = {"yuv420p": [gray, np.full((15, 20), 128, np.uint8), np.full((15, 20), 128, np.uint8)],
                  "yuv444p": [gray, np.full((h, w), 128, np.uint8), np.full((h, w), 128, np.uint8)],
                  "gray8": [gray], "gray16le": [gray.astype(np.uint16) << 8]}[fmt]
        view = _core.FrameView(fmt, w, h, planes, range="full")
        half, double = gray[1::2, 1::2, None], gray.repeat(2, 0).repeat(2, 1)[..., None]
        out_c = 1
    params = _core.PreprocessParams(filter="nearest")
    np.testing.assert_array_equal(run(view, (h // 2, w // 2, out_c), np.uint8, params), half)
    np.testing.assert_array_equal(run(view, (2 * h, 2 * w, out_c), np.uint8, params), double)
    assert params.filter == "nearest" and "nearest" in repr(params)


def test_nearest_matches_opencv_nearest_exact() -> None:
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2, "INTER_NEAREST_EXACT"):
        pytest.skip("this OpenCV has no INTER_NEAREST_EXACT")
    img = smooth(113, 157, 3)
    for tw, th in [(64, 48), (300, 220), (157, 57)]:
        want = cv2.resize(img, (tw, th), interpolation=cv2.INTER_NEAREST_EXACT)
        got = run(to_frame_view(img), (th, tw, 3), np.uint8, _core.PreprocessParams(filter="nearest"))
        np.testing.assert_array_equal(got, want)


def _layouts(plane: Any) -> List[Tuple[str, Any]]:
    """The plane flush against a protected page at its end and at its start, flipped (a negative
    stride, flush at the start of memory) and inside wider rows (a padded stride)."""
    wide = np.zeros((plane.shape[0], plane.shape[1] + 7), plane.dtype)
    wide[:, 3 : 3 + plane.shape[1]] = plane
    guarded_wide = guarded_copy(wide)
    return [
        ("end", guarded_copy(plane, at_end=True)),
        ("start", guarded_copy(plane, at_end=False)),
        ("flipped", guarded_copy(plane[::-1], at_end=False)[::-1]),
        ("flipped-end", guarded_copy(plane[::-1], at_end=True)[::-1]),
        ("padded", guarded_wide[:, 3 : 3 + plane.shape[1]]),
    ]


@pytest.mark.parametrize("fmt", NEW_FORMATS + ["yuv420p", "nv12"])
@pytest.mark.parametrize("w,h", [(1, 1), (2, 1), (1, 3), (3, 5), (7, 2), (33, 9), (45, 31)])
def test_odd_sizes_never_read_outside_the_planes(fmt: str, w: int, h: int) -> None:
    planes = planes_for(fmt, w, h)
    variants = [_layouts(p) for p in planes]
    for k in range(len(variants[0])):
        guarded = [v[k][1] for v in variants]
        view = _core.FrameView(fmt, w, h, guarded, matrix="bt601", range="limited")
        for filt in FILTERS:
            for shape, roi, fit in [((5, 4, 3), None, "stretch"), ((9, 13, 3), None, "letterbox"),
                                    ((6, 6, 1), None, "center_crop"), ((7, 3, 3), (w - 1, h - 1, 1, 1), "stretch")]:
                params = _core.PreprocessParams(filter=filt, roi=roi, fit=fit)
                got = run(view, shape, np.uint8, params, 1 / 128, 128)
                want = reference(fmt, planes, w, h, shape, np.uint8, filt=filt, roi=roi, fit=fit,
                                 scale=1 / 128, zero_point=128)
                assert_close(got, want, np.uint8)


@pytest.mark.parametrize("fmt", NEW_FORMATS)
def test_simd_and_scalar_kernels_agree_exactly(fmt: str) -> None:
    previous = _core._set_preprocess_simd(True)
    try:
        for w, h, shape in [(203, 117, (37, 61, 3)), (45, 31, (29, 19, 3)), (33, 9, (70, 90, 3)), (96, 64, (17, 23, 1))]:
            view = _core.FrameView(fmt, w, h, planes_for(fmt, w, h), matrix="bt709")
            for filt in FILTERS:
                params = _core.PreprocessParams(filter=filt)
                for dtype in [np.uint8, np.float32]:
                    scale, zp = QUANT[dtype]
                    assert_simd_equals_scalar(lambda: run(view, shape, dtype, params, scale, zp))
    finally:
        _core._set_preprocess_simd(previous)


@pytest.mark.parametrize("fmt", ["yuv422p", "yuv444p", "yuv420p10le", "yuv422p10le", "p010le", "gray10le"])
@pytest.mark.parametrize("w,h", [(7, 5), (1, 1), (64, 33)])
def test_planes_too_small_or_missing_are_input_errors(fmt: str, w: int, h: int) -> None:
    planes = [as_bytes(p) for p in planes_for(fmt, w, h)]
    with pytest.raises(InputError, match="planes"):
        _core.FrameView(fmt, w, h, planes[:-1])
    for i, p in enumerate(planes):
        short_rows = list(planes)
        short_rows[i] = p[:-1]
        with pytest.raises(InputError, match="rows"):
            _core.FrameView(fmt, w, h, short_rows)
        narrow = list(planes)
        narrow[i] = p[:, :-1]  # one byte short: half a 16-bit sample, or a chroma column rounded down
        with pytest.raises(InputError, match="bytes"):
            _core.FrameView(fmt, w, h, narrow)
        # 1-D buffers with a stride: too short a stride, or too little data for the stride.
        flat = [np.ascontiguousarray(q).reshape(-1) for q in planes]
        strides = [q.shape[1] for q in planes]
        bad = list(strides)
        bad[i] = strides[i] - 1
        with pytest.raises(InputError, match="stride"):
            _core.FrameView(fmt, w, h, flat, bad)
        bad[i] = -strides[i]
        with pytest.raises(InputError, match="stride"):
            _core.FrameView(fmt, w, h, flat, bad)
        cut = list(flat)
        cut[i] = flat[i][:-1]
        with pytest.raises(InputError, match="holds"):
            _core.FrameView(fmt, w, h, cut, strides)
    with pytest.raises(InputError, match="4-byte items"):
        _core.FrameView(fmt, w, h, [p.astype(np.uint32) for p in planes])


def test_uint16_arrays_only_for_deep_formats() -> None:
    with pytest.raises(InputError, match="uint8"):
        _core.FrameView("yuv422p", 4, 4, [np.zeros((4, 4), np.uint16), np.zeros((4, 2), np.uint16), np.zeros((4, 2), np.uint16)])
    with pytest.raises(InputError, match="unknown pixel format"):
        _core.FrameView("yuv410p", 4, 4, [np.zeros((4, 4), np.uint8)] * 3)
    with pytest.raises(InputError, match="nearest"):
        _core.PreprocessParams(filter="bicubic")


AV_FORMATS = ["yuvj422p", "yuv422p", "yuvj444p", "yuv444p", "yuv420p10le", "yuv422p10le", "yuv444p10le",
              "p010le", "gray10le", "gray16le", "nv12", "yuvj420p"]


@pytest.mark.parametrize("av_format", AV_FORMATS)
def test_pyav_frames_reach_the_kernel_without_a_reformat(av_format: str) -> None:
    av = pytest.importorskip("av")
    yy, xx = np.mgrid[0:91, 0:151]
    rgb = np.stack([xx * 1.6, yy * 2.5, 255 - xx], axis=-1).astype(np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=av_format)
    assert is_native(frame)
    view = to_frame_view(frame)
    native = av_format.replace("yuvj", "yuv")
    assert view.format == native
    assert view.range == ("full" if av_format.startswith("yuvj") else "limited")
    deep_planes = native in ("yuv420p10le", "yuv422p10le", "yuv444p10le", "p010le", "gray10le", "gray16le")
    planes = [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size) for p in frame.planes]
    if deep_planes:
        planes = [p.view(np.uint16) for p in planes]
    shape = (45, 75, 1 if native.startswith("gray") else 3)
    got = run(view, shape, np.uint8, _core.PreprocessParams())
    want = reference(native, planes, 151, 91, shape, np.uint8, matrix=view.matrix, range_=view.range)
    assert_close(got, want, np.uint8)
    # And the picture survives: close to the RGB it was made from (swscale's own rounding aside).
    if shape[2] == 3:
        full = run(view, (91, 151, 3), np.uint8, _core.PreprocessParams())
        assert np.abs(full.astype(int) - rgb).mean() < 4


def test_other_pyav_formats_fall_back_to_a_reformat() -> None:
    av = pytest.importorskip("av")
    frame = av.VideoFrame.from_ndarray(smooth(20, 30, 3), format="rgb24").reformat(format="yuv410p")
    assert not is_native(frame)
    assert to_frame_view(frame).format == "yuv420p"
    assert is_native(np.zeros((4, 4, 3), np.uint8))
