"""Property: any frame, output tensor and parameters given to ``_core.preprocess`` or
``Engine.infer`` either work or raise a StreamcoreError subclass; never another exception
type, never a crash.

Hypothesis draws the cases (derandomized: the same cases every run) as plain dicts; they run in
child processes (tests/fuzz_harness.py), so a segfault or a sanitizer abort is reported with
its case instead of taking the test run down.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_harness import Case, Outcome, run_cases
from tests.preprocess_reference import YUV

FORMATS = ["yuv420p", "yuvj420p", "i420", "nv12", "nv21", "rgb24", "bgr24", "rgba", "bgra", "gray8", "gray",
           "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv420p10le", "yuv422p10le", "yuv444p10le", "p010le",
           "gray10le", "gray16le"]
BYTES_PER_PIXEL = {"rgb24": 3, "bgr24": 3, "rgba": 4, "bgra": 4, "gray10le": 2, "gray16le": 2}
INT_MAX = 2**31 - 1
# Planes bigger than this are allocated smaller than the declared frame needs (it must be refused).
PLANE_BUDGET = 4 << 20

# A fixed, bounded number of examples: the fuzz files together stay well under a minute.
PREPROCESS_CASES = 1500
ENGINE_CASES = 600


def _settings(n: int) -> Any:
    return settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


# -- strategies ---------------------------------------------------------------------------

def _pick(wild: bool, valid: List[Any], invalid: List[Any]) -> Any:
    """Valid values only, or (wild) mostly valid ones with the invalid ones mixed in."""
    return st.sampled_from(valid + invalid) if wild else st.sampled_from(valid)


valid_sizes = st.one_of(
    st.integers(1, 8),
    st.integers(1, 300),
    st.sampled_from([1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 639, 640, 641, 1279, 1280]),
)
sizes = st.one_of(
    valid_sizes,
    st.integers(4097, 70000),
    st.sampled_from([2**15, 2**16, 2**24, 2**28, 2**29 + 1, 2**30, 2**30 + 1, INT_MAX - 1, INT_MAX]),
    st.integers(-3, 0),
)


def plane_variants(wild: bool) -> Any:
    return st.fixed_dictionaries(
        {
            "mode": st.sampled_from(["2d", "2d", "3d", "1d"]),
            "pad": st.sampled_from([0, 0, 0, 1, 3, 32, 64]),
            "flip": st.booleans(),  # a 1-D buffer is flipped only in wild cases
            "row_delta": _pick(wild, [0, 0, 0, 1], [-1, -2]),
            "byte_delta": _pick(wild, [0, 0, 0, 1], [-1, -3]),
            "stride_delta": _pick(wild, [0], [0, 0, -1, 1, -1000]),
            "length_delta": _pick(wild, [0, 0, 1], [-1, -7]),
            "dtype": _pick(wild, ["uint8"], ["uint8", "uint16", "int8", "float32"]),
            "col_step": _pick(wild, [1], [1, 1, 2]),
            "explicit_stride": st.booleans(),
        }
    )


small_rois = st.tuples(st.integers(0, 70), st.integers(0, 70), st.integers(1, 70), st.integers(1, 70))
rois = st.one_of(
    st.none(),
    small_rois,
    st.tuples(
        st.integers(-(2**31), INT_MAX),
        st.integers(-(2**31), INT_MAX),
        st.integers(-(2**31), INT_MAX),
        st.integers(-(2**31), INT_MAX),
    ),
    st.tuples(st.sampled_from([0, -1, 1, INT_MAX]), st.sampled_from([0, -1, 1, INT_MAX]),
              st.sampled_from([0, 1, 2, INT_MAX, -1]), st.sampled_from([0, 1, 2, INT_MAX, -1])),
)

valid_floats = st.one_of(st.floats(-1000, 1000, allow_nan=False), st.sampled_from([0.0, 1.0, 127.5, 128.0, 255.0]))
floats = st.one_of(
    valid_floats,
    st.sampled_from([0.0, -0.0, 1e-30, 1e30, -1e30, float("nan"), float("inf"), float("-inf")]),
)


def params(wild: bool) -> Any:
    return st.fixed_dictionaries(
        {
            "fit": _pick(wild, ["stretch", "letterbox", "center_crop", "crop"], ["zoom"]),
            "filter": _pick(wild, ["bilinear", "area", "nearest"], ["bicubic"]),
            "roi": rois if wild else st.one_of(st.none(), st.none(), small_rois),
            "mean": floats if wild else valid_floats,
            "std": floats if wild else st.one_of(st.floats(0.01, 1000), st.sampled_from([1.0, 127.5, 128.0, 255.0])),
            "pad_value": _pick(wild, [0, 0, 114, 255], [-1, 256]),
            "bgr": st.booleans(),
        }
    )


def outputs(wild: bool) -> Any:
    out_sizes = st.one_of(st.integers(1, 64), st.sampled_from([1, 2, 224, 300] + ([0, 1024] if wild else [])))
    return st.fixed_dictionaries(
        {
            "h": out_sizes,
            "w": out_sizes,
            "c": _pick(wild, [3, 3, 3, 1], [4, 2, 0]),
            "batch": _pick(wild, [None, 1], [2]),
            "dtype": _pick(wild, ["uint8", "int8", "float32"], ["int16", "float64"]),
            "contiguous": _pick(wild, [True], [True, True, False]),
            "readonly": _pick(wild, [False], [False, False, True]),
            "scale": st.one_of(st.just(0.0), floats if wild else st.floats(1e-4, 10)),
            "zero_point": _pick(wild, [0, 128, -128, 127], [255, -1, 2**31 - 1, -(2**31)]),
        }
    )


# Sizes whose byte counts overflow 32 bits for some formats (x3, x4, rounding up for chroma).
huge_sizes = st.one_of(
    st.integers(4097, 70000),
    st.sampled_from([2**15, 2**16, 2**24, 2**28, 2**29 + 1, 2**30, 2**30 + 1, 715827883, 536870912,
                     805306368, INT_MAX - 1, INT_MAX]),
    st.integers(2**29, INT_MAX),
)


def preprocess_case(wild: bool, huge: bool = False) -> Any:
    return st.fixed_dictionaries(
        {
            "wild": st.just(wild),
            "format": st.sampled_from(FORMATS),
            "width": huge_sizes if huge else sizes if wild else valid_sizes,
            "height": st.integers(1, 4) if huge else sizes if wild else valid_sizes,
            "planes": st.lists(plane_variants(wild), min_size=3, max_size=3),
            "plane_count_delta": _pick(wild, [0], [0, 0, 0, -1, 1]),
            "strides_count_delta": _pick(wild, [0], [0, 0, 0, -1, 1]),
            "matrix": _pick(wild, ["bt601", "bt709"], ["bt2020"]),
            "range": _pick(wild, [None, "limited", "full", "tv", "pc", "mpeg", "jpeg"], ["studio"]),
            "out": outputs(wild),
            "params": params(wild),
            "transpose": st.booleans() if huge else st.just(False),  # huge height, small width
            "seed": st.integers(0, 2**16),
        }
    )


# Half the cases are valid frames (which reach the kernels with every format, stride, ROI and fit);
# a quarter are valid but for huge declared sizes (on small buffers, which must be refused); the
# rest mix in one or more invalid values of every kind.
preprocess_cases = st.one_of(
    preprocess_case(False), preprocess_case(False), preprocess_case(False, huge=True), preprocess_case(True)
)

def engine_case(wild: bool) -> Any:
    dims = sizes.filter(lambda s: s <= 4096) if wild else st.one_of(st.integers(1, 64), st.sampled_from([1, 2, 480, 641]))
    return st.fixed_dictionaries(
        {
            "model": st.sampled_from(["uint8", "float32", "int8"]),
            # rgb: HxWx3, rgba: HxWx4, gray: HxW, yuv: (H*3//2)xW (with a yuv format), any: ndim 0..4
            "layout": _pick(wild, ["rgb", "rgb", "rgba", "gray", "yuv"], ["any", "any"]),
            "h": dims,
            "w": dims,
            "extra": st.lists(dims, min_size=0, max_size=4),
            "dtype": _pick(wild, ["uint8"], ["float32", "int8", "uint16", "bool"]),
            "format": _pick(wild, [None], FORMATS + ["yuv411p", "", "rgb"]),
            "yuv_format": st.sampled_from(["yuv420p", "yuvj420p", "i420", "nv12", "nv21"]),
            "flip": st.booleans(),
            "pad": st.sampled_from([0, 0, 0, 1, 64]),
            "roi": rois if wild else st.one_of(st.none(), st.none(), small_rois),
            "matrix": _pick(wild, [None, None, "bt601", "bt709"], ["bt2020"]),
            "range": _pick(wild, [None, None, "limited", "full"], ["studio"]),
            "seed": st.integers(0, 2**16),
        }
    )


engine_cases = st.one_of(engine_case(False), engine_case(False), engine_case(True))


def draw_cases(strategy: Any, n: int) -> List[Case]:
    cases: List[Case] = []

    @_settings(n)  # type: ignore[untyped-decorator]
    @given(strategy)
    def collect(case: Case) -> None:
        cases.append(case)

    collect()
    # Derandomized generation repeats itself at times: run each distinct case once.
    unique = {json.dumps(case, sort_keys=True): case for case in cases}
    return list(unique.values())


# -- what the child runs ------------------------------------------------------------------


def _need(fmt: str, width: int, height: int, index: int) -> Tuple[int, int]:
    """(rows, bytes per row) plane `index` needs, computed without overflow."""
    name = {"i420": "yuv420p", "yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p"}.get(fmt, fmt)
    if name not in YUV:
        return height, width * BYTES_PER_PIXEL.get(fmt, 1)
    sx, sy, layout, bits, _ = YUV[name]
    sample = 1 if bits == 8 else 2
    if index == 0:
        return height, width * sample
    cw, ch = -(-width // (1 << sx)), -(-height // (1 << sy))
    return ch, cw * sample * (1 if layout == "planar" else 2)


def _plane(fmt: str, width: int, height: int, index: int, v: Dict[str, Any], rng: Any) -> Tuple[Any, Optional[int]]:
    """One plane as the variant `v` says, and the stride to pass for it (None: leave it out)."""
    rows, row_bytes = _need(fmt, width, height, index)
    rows = max(rows + v["row_delta"], 1)
    row_bytes = max(row_bytes + v["byte_delta"], 1)
    if rows * (row_bytes + v["pad"]) > PLANE_BUDGET:  # huge frames: a small buffer, to be refused
        rows = max(1, min(rows, 64))
        row_bytes = max(1, min(row_bytes, 4096))
    dtype = np.dtype(v["dtype"])
    if v["mode"] == "1d":
        stride = row_bytes + v["pad"] + v["stride_delta"]
        length = max((rows - 1) * max(stride, 0) + row_bytes + v["length_delta"], 0)
        buf = rng.integers(0, 256, size=max(length // dtype.itemsize, 0)).astype(dtype)
        if v["flip"] and v["wild"]:
            buf = buf[::-1]
        return buf, stride
    bpp = BYTES_PER_PIXEL.get(fmt, 1) if index == 0 else 1
    step = v["col_step"]
    if v["mode"] == "3d" and bpp > 1 and row_bytes % bpp == 0:
        full = rng.integers(0, 256, size=(rows, row_bytes // bpp * step + v["pad"], bpp)).astype(dtype)
        arr = full[:, : row_bytes // bpp * step : step]
    else:
        full = rng.integers(0, 256, size=(rows, row_bytes * step + v["pad"])).astype(dtype)
        arr = full[:, : row_bytes * step : step]
    if v["flip"]:
        arr = arr[::-1]
    stride = int(arr.strides[0]) + v["stride_delta"] if v["explicit_stride"] else None
    return arr, stride


def run_preprocess_case(case: Case) -> None:
    from streamcore import _core

    rng = np.random.default_rng(case["seed"])
    fmt, width, height = case["format"], case["width"], case["height"]
    if case.get("transpose"):
        width, height = height, width
    count = {"nv12": 2, "nv21": 2, "p010le": 2}.get(fmt, 3 if fmt.startswith("yuv") or fmt == "i420" else 1)
    planes: List[Any] = []
    strides: List[Optional[int]] = []
    for i in range(max(count + case["plane_count_delta"], 0)):
        variant = {**case["planes"][min(i, 2)], "wild": case["wild"]}
        plane, stride = _plane(fmt, max(width, 1), max(height, 1), min(i, count - 1), variant, rng)
        planes.append(plane)
        strides.append(stride)
    given_strides: Optional[List[int]] = None
    if any(s is not None for s in strides):
        given_strides = [s if s is not None else int(getattr(p, "strides", [1])[0]) for s, p in zip(strides, planes)]
        given_strides = given_strides[: max(len(given_strides) + case["strides_count_delta"], 0)]
    view = _core.FrameView(fmt, width, height, planes, given_strides, matrix=case["matrix"], range=case["range"])
    o = case["out"]
    shape: Tuple[int, ...] = (o["h"], o["w"], o["c"])
    if o["batch"] is not None:
        shape = (o["batch"],) + shape
    out = np.zeros(shape if o["contiguous"] else shape[:-2] + (shape[-2] * 2, shape[-1]), dtype=o["dtype"])
    if not o["contiguous"]:
        out = out[..., ::2, :]
    if o["readonly"]:
        out.flags.writeable = False
    p = case["params"]
    params = _core.PreprocessParams(
        fit=p["fit"], filter=p["filter"], roi=tuple(p["roi"]) if p["roi"] is not None else None,
        mean=p["mean"], std=p["std"], pad_value=p["pad_value"], bgr=p["bgr"],
    )
    _core.preprocess(view, out, params, o["scale"], o["zero_point"])


class _EngineCase:
    """Runs engine cases in one child: one Engine per model kind, all on one event loop."""

    def __init__(self) -> None:
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.engines: Dict[str, Any] = {}

    def setup(self) -> None:
        self.loop = asyncio.new_event_loop()

    def teardown(self) -> None:
        assert self.loop is not None
        for engine in self.engines.values():
            self.loop.run_until_complete(engine.close())
        self.loop.close()

    def engine(self, kind: str) -> Any:
        from streamcore import Engine, models

        if kind not in self.engines:
            assert self.loop is not None
            engine = Engine(models.tiny_classifier((24, 32, 3), 5, dtype=kind), devices="cpu:1")
            self.loop.run_until_complete(engine.start())
            self.engines[kind] = engine
        return self.engines[kind]

    def __call__(self, case: Case) -> None:
        rng = np.random.default_rng(case["seed"])
        engine = self.engine(case["model"])
        h, w, layout = max(case["h"], 0), max(case["w"], 0), case["layout"]
        options = {k: case[k] for k in ("format", "matrix", "range") if case[k] is not None}
        shape: List[int] = {
            "rgb": [h, w, 3], "rgba": [h, w, 4], "gray": [h, w], "yuv": [h + (h + 1) // 2, w],
        }.get(layout, [max(x, 0) for x in case["extra"]])
        if layout == "yuv" and "format" not in options:
            options["format"] = case["yuv_format"]
        if layout == "yuv" and options.get("format") in ("yuv420p", "yuvj420p", "i420") and not case["format"]:
            shape[1] += shape[1] % 2  # packed I420 arrays need an even width
        padded = list(shape)
        if case["pad"] and len(padded) >= 2:
            padded[1] += case["pad"]
        frame = rng.integers(0, 256, size=padded).astype(case["dtype"])
        if case["pad"] and frame.ndim >= 2:
            frame = frame[:, : shape[1]]  # rows padded beyond the width
        if case["flip"] and frame.ndim >= 1:
            frame = frame[::-1]  # a negative row stride
        roi = tuple(case["roi"]) if case["roi"] is not None else None
        assert self.loop is not None
        result = self.loop.run_until_complete(asyncio.wait_for(engine.infer(frame, roi, **options), 30))
        assert result.outputs


run_engine_case = _EngineCase()


# -- a bug these fuzzers found, fixed: a reproducer each -------------------------------------


def known_crash(case: Case) -> str:
    return ""  # none left: every case runs


def known_bug(case: Case, outcome: Outcome) -> str:
    return ""


@pytest.mark.parametrize("fmt, width", [("bgra", INT_MAX), ("rgb24", 2**30 + 1), ("rgba", 2**29 + 1)])
def test_packed_row_bytes_overflowing_int_are_refused(fmt: str, width: int) -> None:
    """Found by the fuzzer (fixed): the FrameView was accepted and _core.preprocess then crashed.
    _core.FrameView("bgra", 2**31 - 1, 1, [np.zeros((2, 4096), np.uint8)])
    Run in a child: under UBSan the overflow itself halts the process."""
    code = (
        "import numpy as np\n"
        "from streamcore import InputError, _core\n"
        "try:\n"
        f"    _core.FrameView({fmt!r}, {width}, 1, [np.zeros((2, 4096), np.uint8)])\n"
        "except InputError:\n"
        "    raise SystemExit(0)\n"
        "raise SystemExit('accepted')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-1500:]


# -- the tests ------------------------------------------------------------------------------


def _assert_clean(report: Any) -> None:
    failures = report.failures()
    assert not failures, report.summary() + "\n" + "\n".join(report.describe(o) for o in failures[:10])


@pytest.mark.slow
def test_preprocess_returns_or_raises_streamcore_errors() -> None:
    report = run_cases("preprocess", "tests.test_fuzz_frames:run_preprocess_case",
                       draw_cases(preprocess_cases, PREPROCESS_CASES), known_bug, memory_mb=4096,
                       skip=known_crash)
    print(report.summary())
    _assert_clean(report)
    assert report.count("ok") > PREPROCESS_CASES // 10  # the generator still reaches the kernels


@pytest.mark.slow
def test_engine_infer_returns_or_raises_streamcore_errors() -> None:
    report = run_cases("engine-infer", "tests.test_fuzz_frames:run_engine_case",
                       draw_cases(engine_cases, ENGINE_CASES), known_bug)
    print(report.summary())
    _assert_clean(report)
    assert report.count("ok") > ENGINE_CASES // 10
