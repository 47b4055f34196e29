"""Hardening of the native paths: size overflows, out-of-range quantization, absurd model
inputs, the simulator's custom op on malformed nodes, dynamic outputs, and errors that must be
StreamcoreError. Calls that could crash the process run in a subprocess, so a segfault fails
the test instead of ending the run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, List, Tuple

import numpy as np
import pytest

from streamcore import InputError, Model, ModelError, RoiError, models
from streamcore._native import core
from streamcore.tools.synthetic import GraphBuilder, Quantization
from streamcore.tools.synthetic import options

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_isolated(source: str, timeout: float = 120) -> "subprocess.CompletedProcess[str]":
    """Runs `source` in a fresh interpreter: a crash is a non-zero return code, not a lost run."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True, text=True, timeout=timeout, cwd=str(REPO_ROOT),
    )


def assert_clean(proc: "subprocess.CompletedProcess[str]") -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr[-2000:]}"


# --- 1. frame sizes: 64-bit arithmetic and a side limit --------------------------------------


@pytest.mark.parametrize(
    "fmt, width",
    [("rgba", 536870912), ("rgb24", 1431655766), ("bgra", 1073741824), ("gray8", 1 << 30)],
)
def test_huge_frame_width_is_refused_not_read_out_of_bounds(fmt: str, width: int) -> None:
    proc = run_isolated(
        f"""
        import numpy as np
        from streamcore import InputError
        from streamcore._native import core
        planes = [np.zeros((2, 8), np.uint8)]
        try:
            view = core.FrameView({fmt!r}, {width}, 1, planes)
            core.preprocess(view, np.zeros((4, 4, 3), np.uint8), core.PreprocessParams())
        except InputError as e:
            print("InputError:", e)
        else:
            print("accepted")
        """
    )
    assert_clean(proc)
    assert "InputError:" in proc.stdout and "65536" in proc.stdout, proc.stdout


@pytest.mark.parametrize("width, height", [(65537, 1), (1, 65537), (0, 4), (4, -1), (-(1 << 31), 4)])
def test_frame_sides_outside_the_limit_are_input_errors(width: int, height: int) -> None:
    with pytest.raises(InputError, match="65536|empty"):
        core.FrameView("gray8", width, height, [np.zeros((4, 4), np.uint8)])


def test_frame_at_the_side_limit_is_accepted() -> None:
    view = core.FrameView("gray8", 65536, 1, [np.zeros((1, 65536), np.uint8)])
    out = np.zeros((1, 8, 1), np.uint8)
    core.preprocess(view, out, core.PreprocessParams())


def test_huge_stride_of_a_1d_plane_does_not_wrap() -> None:
    proc = run_isolated(
        """
        import numpy as np
        from streamcore import InputError
        from streamcore._native import core
        try:
            view = core.FrameView("gray8", 4, 3, [np.zeros(64, np.uint8)], strides=[(1 << 62) + 1])
            core.preprocess(view, np.zeros((2, 2, 1), np.uint8), core.PreprocessParams())
        except InputError as e:
            print("InputError:", e)
        """
    )
    assert_clean(proc)
    assert "InputError:" in proc.stdout, proc.stdout


# --- 2. zero points outside the tensor's dtype -----------------------------------------------


@pytest.mark.parametrize(
    "dtype, zero_point",
    [(np.uint8, 256), (np.uint8, -1), (np.int8, 128), (np.int8, -129), (np.uint8, 1 << 40)],
)
def test_preprocess_refuses_a_zero_point_outside_the_dtype(dtype: Any, zero_point: int) -> None:
    view = core.FrameView("rgb24", 4, 4, [np.zeros((4, 4, 3), np.uint8)])
    with pytest.raises(ModelError, match="zero point"):
        core.preprocess(view, np.zeros((2, 2, 3), dtype), core.PreprocessParams(), 0.5, zero_point)


@pytest.mark.parametrize("dtype, zero_point", [(np.uint8, 0), (np.uint8, 255), (np.int8, -128), (np.int8, 127)])
def test_preprocess_accepts_zero_points_at_the_dtype_bounds(dtype: Any, zero_point: int) -> None:
    view = core.FrameView("rgb24", 4, 4, [np.zeros((4, 4, 3), np.uint8)])
    core.preprocess(view, np.zeros((2, 2, 3), dtype), core.PreprocessParams(), 0.5, zero_point)


def pooled_model(dtype: str, zero_point: int, size: int = 8) -> bytes:
    """input [1, size, size, 3] quantized (1/128, zero_point) -> AVERAGE_POOL_2D -> output."""
    g = GraphBuilder("hardening test model")
    quant = Quantization.per_tensor(1 / 128, zero_point)
    image = g.tensor("input", (1, size, size, 3), dtype, quant)
    out = g.tensor("pooled", (1, 1, 1, 3), dtype, quant)
    g.operator("AVERAGE_POOL_2D", [image], [out], options.pool_2d((size, size), (size, size), "valid"))
    return g.build([image], [out])


@pytest.mark.parametrize("dtype, zero_point", [("uint8", 300), ("uint8", -5), ("int8", 200)])
async def test_device_build_refuses_an_input_zero_point_outside_the_dtype(dtype: str, zero_point: int) -> None:
    pytest.importorskip("tflite_runtime", reason="builds a tflite:cpu device")
    from streamcore import Engine

    with pytest.raises(ModelError, match=f"zero point {zero_point}"):
        async with Engine(pooled_model(dtype, zero_point), devices="tflite:cpu"):
            pass


# --- 4. the simulated edgetpu-custom-op on malformed nodes -----------------------------------


def test_simulated_custom_op_refuses_an_omitted_output() -> None:
    pytest.importorskip("tflite_runtime", reason="the simulator runs through tflite_runtime")
    proc = run_isolated(
        """
        from tflite_runtime.interpreter import InterpreterWithCustomOps, OpResolverType
        from streamcore import _core
        from streamcore.backends.sim import sim_library_path
        from streamcore.tools.synthetic import GraphBuilder, Quantization

        g = GraphBuilder("edgetpu-custom-op with an omitted output")
        image = g.tensor("input", (1, 4, 4, 3), "uint8", Quantization.per_tensor(1 / 128, 128))
        out = g.tensor("out", (1, 10), "uint8", Quantization.per_tensor(1 / 256, 0))
        g.custom_operator("edgetpu-custom-op", [image], [-1, out], custom_options=b"x")
        model = g.build([image], [out])

        runtime = _core.EdgeTpuRuntime(sim_library_path())
        runtime.sim_configure(1, 0.0)
        device = runtime.open("reference", "sim:0")
        interpreter = InterpreterWithCustomOps(
            model_content=model, custom_op_registerers=[runtime.custom_op_registerer()],
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES, num_threads=1)
        binding = _core.bind_edgetpu_interpreter(interpreter._native_handle(), device)
        try:
            interpreter.allocate_tensors()
            interpreter.invoke()
            print("accepted")
        except RuntimeError as e:
            print("refused:", e)
        """
    )
    assert_clean(proc)
    assert "refused:" in proc.stdout and "output 0 is tensor -1" in proc.stdout, proc.stdout + proc.stderr[-1500:]


# --- 3. absurd model inputs are refused before any runtime allocates them --------------------


def image_model(shape: Tuple[int, int, int, int], dtype: str = "uint8") -> bytes:
    """input `shape` -> AVERAGE_POOL_2D (2x2) -> output: no weights, so any input size is cheap."""
    g = GraphBuilder("hardening test model")
    quant = Quantization.per_tensor(1 / 128, 128) if dtype == "uint8" else None
    image = g.tensor("input", shape, dtype, quant)
    out = g.tensor("pooled", (1, shape[1] // 2, shape[2] // 2, shape[3]), dtype, quant)
    g.operator("AVERAGE_POOL_2D", [image], [out], options.pool_2d((2, 2), (2, 2), "valid"))
    return g.build([image], [out])


@pytest.mark.parametrize(
    "shape, dtype, limit",
    [((1, 40000, 40000, 3), "uint8", "8192"), ((1, 8194, 16, 3), "uint8", "8192"),
     ((1, 8192, 8192, 3), "float32", "256 MiB")],
)
def test_model_with_an_absurd_input_is_refused_up_front(
    shape: Tuple[int, int, int, int], dtype: str, limit: str
) -> None:
    data = image_model(shape, dtype)
    assert len(data) < 4096  # the model itself is tiny: only its input is huge
    with pytest.raises(ModelError, match=limit):
        Model(data)


@pytest.mark.parametrize(
    "quant, message",
    [(Quantization((1 / 128,), ()), "1 scale values and 0 zero points"),
     (Quantization((0.5, 0.25), (0, 0, 0)), "2 scale values and 3 zero points"),
     (Quantization((0.5, 0.25, 0.5), (0, 0, 0), axis=5), "along dimension 5 of a 4-dimensional")],
)
def test_quantization_that_does_not_pair_up_is_refused(quant: Quantization, message: str) -> None:
    # Found by the model fuzzer: LiteRT's loader read a zero point for each scale and crashed
    # on a tensor with scales but no zero points.
    g = GraphBuilder("unpaired quantization")
    image = g.tensor("input", (1, 8, 8, 3), "uint8", quant)
    out = g.tensor("pooled", (1, 4, 4, 3), "uint8", Quantization.per_tensor(1 / 128, 128))
    g.operator("AVERAGE_POOL_2D", [image], [out], options.pool_2d((2, 2), (2, 2), "valid"))
    with pytest.raises(ModelError, match=message):
        Model(g.build([image], [out]))


def test_tensor_name_with_a_nul_byte_is_refused() -> None:
    # Found by the model fuzzer: "TFLite_Detection_PostProcess\0\0" made LiteRT throw a C++
    # exception out of its C API (a RuntimeError before).
    g = GraphBuilder("NUL in a name")
    image = g.tensor("input", (1, 8, 8, 3), "uint8", Quantization.per_tensor(1 / 128, 128))
    out = g.tensor("pooled\0\0", (1, 4, 4, 3), "uint8", Quantization.per_tensor(1 / 128, 128))
    g.operator("AVERAGE_POOL_2D", [image], [out], options.pool_2d((2, 2), (2, 2), "valid"))
    with pytest.raises(ModelError, match="NUL byte"):
        Model(g.build([image], [out]))


def test_a_tensor_written_twice_is_refused() -> None:
    # Found by the model fuzzer on LiteRT (3.12): an operator's output index mutated to a tensor
    # an earlier operator writes crashed XNNPACK while it reshaped.
    g = GraphBuilder("a tensor with two writers")
    image = g.tensor("input", (1, 8, 8, 3), "uint8", Quantization.per_tensor(1 / 128, 128))
    pooled = g.tensor("pooled", (1, 4, 4, 3), "uint8", Quantization.per_tensor(1 / 128, 128))
    g.operator("AVERAGE_POOL_2D", [image], [pooled], options.pool_2d((2, 2), (2, 2), "valid"))
    g.operator("AVERAGE_POOL_2D", [image], [pooled], options.pool_2d((2, 2), (2, 2), "valid"))
    with pytest.raises(ModelError, match="writes tensor 1, which is already written by operator 0"):
        Model(g.build([image], [pooled]))


def test_model_with_a_large_but_sane_input_passes_the_check() -> None:
    Model(image_model((1, 2048, 4096, 3)))


def test_image_input_shape_applies_the_same_limits() -> None:
    from streamcore.engine.model import image_input_shape
    from streamcore.types import TensorInfo

    ok = TensorInfo(name="in", index=0, shape=(1, 224, 224, 3), dtype=np.dtype(np.uint8), scale=0.5, zero_point=0)
    assert image_input_shape(ok, "m") == (224, 224, 3)
    big = TensorInfo(name="in", index=0, shape=(1, 40000, 40000, 3), dtype=np.dtype(np.uint8), scale=0.5, zero_point=0)
    with pytest.raises(ModelError, match="8192"):
        image_input_shape(big, "m")


# --- 5. outputs whose size is known only after a run (tflite / edgetpu backends) -------------


def where_model(rows: int = 192) -> bytes:
    """indices = WHERE(NOT_EQUAL(input, 137)): one row per input byte that is not 137."""
    g = GraphBuilder("hardening test model: a dynamic output")
    quant = Quantization.per_tensor(1 / 128, 128)
    image = g.tensor("input", (1, 8, 8, 3), "uint8", quant)
    c = g.constant("c137", np.array([137], np.uint8), quant)
    mask = g.tensor("mask", (1, 8, 8, 3), "bool")
    g.operator("NOT_EQUAL", [image, c], [mask])
    indices = g.tensor("indices", (rows, 4), "int64")
    g.operator("WHERE", [mask], [indices])
    return g.build([image], [indices])


@pytest.mark.parametrize("devices", ["sim:1", "tflite:cpu"])
async def test_model_with_a_dynamic_output_is_refused(devices: str) -> None:
    pytest.importorskip("tflite_runtime", reason="the tflite and edgetpu backends run tflite_runtime")
    from streamcore import Engine

    with pytest.raises(ModelError, match="(size known only after a run|XNNPACK)"):
        async with Engine(where_model(), devices=devices) as engine:
            # Before the fix sim:1 answered 192 rows (stale) for a frame with none.
            result = await engine.infer(np.full((8, 8, 3), 137, np.uint8))
            assert result.outputs[0].shape[0] == 0


@pytest.mark.parametrize("rows, why", [(192, "shape went from"), (1, "after a run, not the model's")])
async def test_dynamic_output_is_found_by_running_it_even_for_unlisted_ops(
    rows: int, why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tflite_runtime", reason="the edgetpu backend runs tflite_runtime")
    from streamcore import Engine
    from streamcore.backends import tflite as tflite_backend

    monkeypatch.setattr(tflite_backend, "_DATA_DEPENDENT_OPS", frozenset())
    with pytest.raises(ModelError, match=why):
        async with Engine(where_model(rows), devices="sim:1"):
            pass


async def test_output_with_an_unknown_dimension_in_its_signature_is_refused() -> None:
    pytest.importorskip("tflite_runtime", reason="builds a tflite:cpu device")
    from streamcore import Engine

    g = GraphBuilder("hardening test model: output signature with -1")
    quant = Quantization.per_tensor(1 / 128, 128)
    image = g.tensor("input", (1, 8, 8, 3), "uint8", quant)
    out = g.tensor("pooled", (1, 1, 1, 3), "uint8", quant, shape_signature=(1, -1, -1, 3))
    g.operator("AVERAGE_POOL_2D", [image], [out], options.pool_2d((8, 8), (8, 8), "valid"))
    with pytest.raises(ModelError, match="shape signature"):
        async with Engine(g.build([image], [out]), devices="tflite:cpu"):
            pass


async def test_static_models_and_ssd_postprocess_outputs_are_kept() -> None:
    pytest.importorskip("tflite_runtime", reason="builds a tflite:cpu device")
    from streamcore import Engine

    async with Engine(pooled_model("uint8", 128), devices="tflite:cpu") as engine:
        result = await engine.infer(np.full((8, 8, 3), 200, np.uint8))
        assert result.outputs[0].shape == (1, 1, 1, 3)
    async with Engine(models.tiny_detector(), devices="tflite:cpu") as engine:
        result = await engine.infer(np.zeros((48, 64, 3), np.uint8))
        assert len(result.outputs) == 4


# --- 6. garbage in gives a StreamcoreError, never a bare TypeError / AttributeError ----------

_IMAGE = np.zeros((16, 16, 3), np.uint8)
_GARBAGE: List[Tuple[str, Any, Any, Any]] = [
    # (case, frame, roi, frame options)
    ("numpy int32 scalar", np.int32(5), None, {}),
    ("numpy float64 scalar", np.float64(1.5), None, {}),
    ("0-d array", np.array(3, np.uint8), None, {}),
    ("int32 image", np.zeros((8, 8, 3), np.int32), None, {}),
    ("float32 image", np.zeros((8, 8, 3), np.float32), None, {}),
    ("bool image", np.zeros((8, 8, 3), bool), None, {}),
    ("object array", np.array([object()]), None, {}),
    ("batch of frames", np.zeros((1, 8, 8, 3), np.uint8), None, {}),
    ("no rows", np.zeros((0, 8, 3), np.uint8), None, {}),
    ("five channels", np.zeros((8, 8, 5), np.uint8), None, {}),
    ("strided columns", np.zeros((8, 16, 3), np.uint8)[:, ::2], None, {}),
    ("side over the limit", np.lib.stride_tricks.as_strided(np.zeros(16, np.uint8), (70000, 70000, 3), (0, 0, 1)), None, {}),
    ("nested list", [[1, 2], [3, 4]], None, {}),
    ("None", None, None, {}),
    ("bytes", b"abc", None, {}),
    ("roi past 32 bits", _IMAGE, (0, 0, 1 << 40, 4), {}),
    ("roi below -2^31", _IMAGE, (-(1 << 40), 0, 4, 4), {}),
    ("roi infinity", _IMAGE, (float("inf"), 0, 4, 4), {}),
    ("roi nan", _IMAGE, (float("nan"), 0, 4, 4), {}),
    ("roi of three", _IMAGE, (0, 0, 4), {}),
    ("roi string", _IMAGE, "abcd", {}),
    ("roi None inside", _IMAGE, (0, None, 4, 4), {}),
    ("roi outside the frame", _IMAGE, (10, 10, 10, 10), {}),
    ("range as int", _IMAGE, None, {"range": 3}),
    ("matrix as int", _IMAGE, None, {"matrix": np.int32(1)}),
    ("unknown format", _IMAGE, None, {"format": "nv12"}),
    ("unknown option", _IMAGE, None, {"fromat": "rgb24"}),
]


async def test_garbage_inputs_give_streamcore_errors() -> None:
    pytest.importorskip("tflite_runtime", reason="builds a tflite:cpu engine")
    from streamcore import Engine, StreamcoreError

    escaped: List[str] = []
    async with Engine(models.tiny_classifier((16, 16, 3), 10), devices="tflite:cpu") as engine:
        for case, frame, roi, frame_options in _GARBAGE:
            try:
                await engine.infer(frame, roi, **frame_options)
            except StreamcoreError as e:
                assert str(e), case
                if case.startswith("roi"):
                    assert isinstance(e, RoiError), (case, e)
                else:
                    assert isinstance(e, InputError), (case, e)
            except BaseException as e:  # noqa: B902 - the point is what escapes
                escaped.append(f"{case}: {type(e).__name__}: {e}")
            else:
                escaped.append(f"{case}: accepted")
        assert (await engine.infer(_IMAGE)).outputs  # the engine still works
    assert not escaped, "\n".join(escaped)


def test_native_out_of_memory_is_a_streamcore_error() -> None:
    proc = run_isolated(
        """
        import resource
        import numpy as np
        from streamcore import StreamcoreError
        from streamcore._native import core
        view = core.FrameView("gray8", 4, 4, [np.zeros((4, 4), np.uint8)])
        out = np.zeros((1, 2_000_000, 3), np.uint8)  # scratch for this needs tens of MB
        params = core.PreprocessParams()
        with open("/proc/self/statm") as f:
            vm = int(f.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (vm + (8 << 20), resource.RLIM_INFINITY))
        try:
            core.preprocess(view, out, params)
            print("no error")
        except StreamcoreError as e:
            print("StreamcoreError:", type(e).__name__, e)
        except MemoryError as e:
            print("bare MemoryError:", e)
        """
    )
    assert_clean(proc)
    assert "StreamcoreError: InferenceError" in proc.stdout and "out of memory" in proc.stdout, proc.stdout
