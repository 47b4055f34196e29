"""Property: any frame, output tensor and parameters given to ``_core.preprocess`` or
``Engine.infer`` either work or raise a StreamcoreError subclass; never another exception
type, never a crash.

Hypothesis draws the cases (derandomized: the same cases every run) as plain dicts; they run in
child processes (tests/fuzz_harness.py), so a segfault or a sanitizer abort is reported with
its case instead of taking the test run down.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_harness import Case, Outcome, run_cases

FORMATS = ["yuv420p", "yuvj420p", "i420", "nv12", "nv21", "rgb24", "bgr24", "rgba", "bgra", "gray8", "gray"]
BYTES_PER_PIXEL = {"rgb24": 3, "bgr24": 3, "rgba": 4, "bgra": 4}
INT_MAX = 2**31 - 1
# Planes bigger than this are allocated smaller than the declared frame needs (it must be refused).
PLANE_BUDGET = 4 << 20

# A fixed, bounded number of examples: the fuzz files together stay well under a minute.
PREPROCESS_CASES = 700
ENGINE_CASES = 250


def _settings(n: int) -> Any:
    return settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


# -- strategies ---------------------------------------------------------------------------

sizes = st.one_of(
    st.integers(1, 8),
    st.integers(1, 300),
    st.sampled_from([1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1919, 1920, 4096]),
    st.integers(4097, 70000),
    st.sampled_from([2**15, 2**16, 2**24, 2**28, 2**29 + 1, 2**30, 2**30 + 1, INT_MAX - 1, INT_MAX]),
    st.integers(-3, 0),
)

plane_variants = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(["2d", "2d", "3d", "1d"]),
        "pad": st.sampled_from([0, 0, 0, 1, 3, 32, 64]),
        "flip": st.booleans(),
        "row_delta": st.sampled_from([0, 0, 0, 0, -1, 1, -2]),
        "byte_delta": st.sampled_from([0, 0, 0, 0, -1, 1, -3]),
        "stride_delta": st.sampled_from([0, 0, 0, 0, -1, 1, -1000]),
        "length_delta": st.sampled_from([0, 0, 0, -1, 1, -7]),
        "dtype": st.sampled_from(["uint8"] * 12 + ["uint16", "int8", "float32"]),
        "col_step": st.sampled_from([1] * 15 + [2]),
        "explicit_stride": st.booleans(),
    }
)

rois = st.one_of(
    st.none(),
    st.tuples(st.integers(0, 70), st.integers(0, 70), st.integers(1, 70), st.integers(1, 70)),
    st.tuples(
        st.integers(-(2**31), INT_MAX),
        st.integers(-(2**31), INT_MAX),
        st.integers(-(2**31), INT_MAX),
        st.integers(-(2**31), INT_MAX),
    ),
    st.tuples(st.sampled_from([0, -1, 1, INT_MAX]), st.sampled_from([0, -1, 1, INT_MAX]),
              st.sampled_from([0, 1, 2, INT_MAX, -1]), st.sampled_from([0, 1, 2, INT_MAX, -1])),
)

floats = st.one_of(
    st.floats(-1000, 1000, allow_nan=False),
    st.sampled_from([0.0, -0.0, 1e-30, 1e30, -1e30, float("nan"), float("inf"), float("-inf"), 128.0, 255.0]),
)

params = st.fixed_dictionaries(
    {
        "fit": st.sampled_from(["stretch", "letterbox", "center_crop", "crop", "stretch", "zoom"]),
        "filter": st.sampled_from(["bilinear", "area", "area", "bilinear", "nearest"]),
        "roi": rois,
        "mean": floats,
        "std": floats,
        "pad_value": st.sampled_from([0, 0, 114, 255, -1, 256]),
        "bgr": st.booleans(),
    }
)

outputs = st.fixed_dictionaries(
    {
        "h": st.one_of(st.integers(1, 64), st.sampled_from([0, 1, 2, 224, 300, 1024])),
        "w": st.one_of(st.integers(1, 64), st.sampled_from([0, 1, 2, 224, 300, 1024])),
        "c": st.sampled_from([3, 3, 3, 1, 4, 2, 0]),
        "batch": st.sampled_from([None, None, 1, 1, 2]),
        "dtype": st.sampled_from(["uint8", "int8", "float32", "uint8", "int8", "float32", "int16", "float64"]),
        "contiguous": st.sampled_from([True] * 12 + [False]),
        "readonly": st.sampled_from([False] * 15 + [True]),
        "scale": st.one_of(st.just(0.0), floats),
        "zero_point": st.sampled_from([0, 0, 128, -128, 127, 255, -1, 2**31 - 1, -(2**31)]),
    }
)

preprocess_cases = st.fixed_dictionaries(
    {
        "format": st.sampled_from(FORMATS),
        "width": sizes,
        "height": sizes,
        "planes": st.lists(plane_variants, min_size=3, max_size=3),
        "plane_count_delta": st.sampled_from([0] * 20 + [-1, 1]),
        "strides_count_delta": st.sampled_from([0] * 20 + [-1, 1]),
        "matrix": st.sampled_from(["bt601", "bt709", "bt601", "bt2020"]),
        "range": st.sampled_from([None, "limited", "full", "tv", "pc", "mpeg", "jpeg", "studio"]),
        "out": outputs,
        "params": params,
        "seed": st.integers(0, 2**16),
    }
)

engine_cases = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["uint8", "float32", "int8"]),
        "shape": st.lists(sizes.filter(lambda s: s <= 4096), min_size=0, max_size=4).filter(
            lambda s: int(np.prod([max(x, 0) for x in s], dtype=np.int64)) <= PLANE_BUDGET
        ),
        "dtype": st.sampled_from(["uint8"] * 10 + ["float32", "int8", "uint16", "bool"]),
        "format": st.sampled_from([None] * 6 + FORMATS + ["yuv422p", "", "rgb"]),
        "flip": st.booleans(),
        "pad": st.sampled_from([0, 0, 0, 1, 64]),
        "roi": rois,
        "matrix": st.sampled_from([None, None, "bt601", "bt709", "bt2020"]),
        "range": st.sampled_from([None, None, "limited", "full", "studio"]),
        "seed": st.integers(0, 2**16),
    }
)


def draw_cases(strategy: Any, n: int) -> List[Case]:
    cases: List[Case] = []

    @_settings(n)
    @given(strategy)
    def collect(case: Case) -> None:
        cases.append(case)

    collect()
    return cases


# -- what the child runs ------------------------------------------------------------------


def _need(fmt: str, width: int, height: int, index: int) -> Tuple[int, int]:
    """(rows, bytes per row) plane `index` needs, computed without overflow."""
    bpp = BYTES_PER_PIXEL.get(fmt, 1)
    if index == 0:
        return height, width * bpp
    cw, ch = (width + 1) // 2, (height + 1) // 2
    return (ch, cw) if fmt in ("yuv420p", "yuvj420p", "i420") else (ch, 2 * cw)


def _plane(fmt: str, width: int, height: int, index: int, v: Dict[str, Any], rng: Any) -> Tuple[Any, Optional[int]]:
    """One plane as the variant `v` says, and the stride to pass for it (None: leave it out)."""
    rows, row_bytes = _need(fmt, width, height, index)
    rows = max(rows + v["row_delta"], 1)
    row_bytes = max(row_bytes + v["byte_delta"], 1)
    if rows * (row_bytes + v["pad"]) > PLANE_BUDGET:  # huge frames: a small buffer, to be refused
        rows = max(1, min(rows, 64))
        row_bytes = max(1, min(row_bytes, PLANE_BUDGET // rows - v["pad"]))
    dtype = np.dtype(v["dtype"])
    if v["mode"] == "1d":
        stride = row_bytes + v["pad"] + v["stride_delta"]
        length = max((rows - 1) * max(stride, 0) + row_bytes + v["length_delta"], 0)
        buf = rng.integers(0, 256, size=max(length // dtype.itemsize, 0)).astype(dtype)
        if v["flip"]:
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
    count = {"yuv420p": 3, "yuvj420p": 3, "i420": 3, "nv12": 2, "nv21": 2}.get(fmt, 1)
    planes: List[Any] = []
    strides: List[Optional[int]] = []
    for i in range(max(count + case["plane_count_delta"], 0)):
        plane, stride = _plane(fmt, max(width, 1), max(height, 1), min(i, count - 1), case["planes"][min(i, 2)], rng)
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
        shape = [max(s, 0) for s in case["shape"]]
        if shape:
            shape[0] += case["pad"] if case["flip"] else 0
        frame = rng.integers(0, 256, size=shape).astype(case["dtype"])
        if shape and case["pad"] and frame.ndim >= 2:
            frame = frame[:, : max(frame.shape[1] - case["pad"], 0)]  # padded rows
        if case["flip"] and frame.ndim >= 1:
            frame = frame[::-1]
        options = {k: case[k] for k in ("format", "matrix", "range") if case[k] is not None}
        roi = tuple(case["roi"]) if case["roi"] is not None else None
        assert self.loop is not None
        result = self.loop.run_until_complete(asyncio.wait_for(engine.infer(frame, roi, **options), 30))
        assert result.outputs


run_engine_case = _EngineCase()


# -- known bugs: excluded from the property, each with an xfail reproducer below ----------------


def known_bug(case: Case, outcome: Outcome) -> str:
    return ""


# -- the tests ------------------------------------------------------------------------------


def _assert_clean(report: Any) -> None:
    failures = report.failures()
    assert not failures, report.summary() + "\n" + "\n".join(report.describe(o) for o in failures[:10])


@pytest.mark.slow
def test_preprocess_returns_or_raises_streamcore_errors() -> None:
    report = run_cases("preprocess", "tests.test_fuzz_frames:run_preprocess_case",
                       draw_cases(preprocess_cases, PREPROCESS_CASES), known_bug)
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
