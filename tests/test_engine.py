"""Engine: correctness against a plain interpreter, zero-copy outputs, dispatch, lifecycle."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable, List, Tuple

import numpy as np
from numpy.typing import NDArray
import pytest
from tests.reference import Interpreter

import streamcore
from streamcore import Engine, EngineClosedError, InputError, ModelError, RoiError, models
from streamcore._native import core


def frames(n: int, h: int = 48, w: int = 64, seed: int = 0) -> List[NDArray[Any]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def reference_outputs(model: bytes, frame: NDArray[Any]) -> List[NDArray[Any]]:
    """The same frame through tflite_runtime's own Python API."""
    interp = Interpreter(model_content=model)
    interp.allocate_tensors()
    detail = interp.get_input_details()[0]
    tensor = np.zeros(detail["shape"], dtype=detail["dtype"])
    view = core.FrameView("rgb24", frame.shape[1], frame.shape[0], [frame])
    core.preprocess(view, tensor, core.PreprocessParams(), *detail["quantization"])
    interp.set_tensor(detail["index"], tensor)
    interp.invoke()
    return [interp.get_tensor(d["index"]).copy() for d in interp.get_output_details()]


@pytest.mark.parametrize("dtype", ["uint8", "int8", "float32"])
async def test_results_match_a_plain_interpreter(dtype: str) -> None:
    model = models.tiny_classifier((32, 32, 3), 10, dtype=dtype)
    async with Engine(model, devices="cpu:2") as engine:
        for frame in frames(6):
            result = await engine.infer(frame)
            expected = reference_outputs(model, frame)
            assert len(result.outputs) == len(expected)
            for got, want in zip(result.outputs, expected):
                assert got.shape == want.shape and got.dtype == want.dtype
                # XNNPACK and TFLite's reference kernels may round differently by one step.
                tol = 1 if dtype != "float32" else 1e-4
                assert np.abs(got.astype(np.float64) - want.astype(np.float64)).max() <= tol


async def test_result_carries_geometry_timings_and_device(tiny_model: Path) -> None:
    async with Engine(tiny_model, devices="cpu:1", fit="letterbox") as engine:
        result = await engine.infer(frames(1, h=40, w=80)[0])
    g = result.geometry
    assert (g.frame_w, g.frame_h, g.tensor_w, g.tensor_h) == (80, 40, 32, 32)
    assert (g.dst_w, g.dst_h) == (32, 16) and g.dst_y == 8
    assert result.device == "cpu0"
    t = result.timings
    assert t.invoke_ms > 0 and t.preprocess_ms > 0 and t.total_ms >= t.invoke_ms + t.preprocess_ms


# Outputs outliving more inferences and the engine: tests/test_backends.py, for every backend.


async def test_frames_are_spread_round_robin(tiny_model: Path) -> None:
    async with Engine(tiny_model, devices="cpu:2") as engine:
        results = await asyncio.gather(*(engine.infer(f) for f in frames(40)))
        stats = engine.stats()
    assert {r.device for r in results} == {"cpu0", "cpu1"}
    # Warm-up invokes are not counted: exactly the 40 frames, each device taking some.
    assert sum(s["frames"] for s in stats) == 40
    assert all(s["frames"] >= 1 for s in stats)


async def test_idle_devices_take_turns(tiny_model: Path) -> None:
    async with Engine(tiny_model, devices="cpu:3") as engine:
        sequence = [(await engine.infer(f)).device for f in frames(9)]
    assert sequence == ["cpu0", "cpu1", "cpu2"] * 3


async def test_backpressure_bounds_in_flight(tiny_model: Path) -> None:
    async with Engine(tiny_model, devices="cpu:2", queue_depth=3) as engine:
        assert engine.capacity == 6
        peak = 0

        async def one(f: NDArray[Any]) -> None:
            nonlocal peak
            await engine.infer(f)
            peak = max(peak, sum(s["inflight"] for s in engine.stats()))

        await asyncio.gather(*(one(f) for f in frames(100)))
        assert peak <= 6
        assert engine.inflight == 0


async def test_cancelled_infers_leak_nothing(tiny_model: Path) -> None:
    async with Engine(tiny_model, devices="cpu:1", queue_depth=2) as engine:
        tasks = [asyncio.ensure_future(engine.infer(f)) for f in frames(20)]
        await asyncio.sleep(0)
        for t in tasks[::2]:
            t.cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert sum(isinstance(d, asyncio.CancelledError) for d in done) >= 1
        for _ in range(50):
            if engine.inflight == 0:
                break
            await asyncio.sleep(0.01)
        assert engine.inflight == 0 and not engine._runner(None)._pending
        await engine.infer(frames(1)[0])  # still healthy


async def test_lifecycle_is_idempotent_and_closed_engine_refuses(tiny_model: Path) -> None:
    engine = Engine(tiny_model, devices="cpu:1")
    with pytest.raises(EngineClosedError, match="not started"):
        await engine.infer(frames(1)[0])
    await engine.start()
    await engine.start()
    await engine.close()
    await engine.close()
    with pytest.raises(EngineClosedError, match="closed"):
        await engine.infer(frames(1)[0])
    with pytest.raises(EngineClosedError):
        await engine.start()


async def test_close_with_frames_in_flight_resolves_every_future(tiny_model: Path) -> None:
    engine = Engine(tiny_model, devices="cpu:1", queue_depth=8)
    await engine.start()
    tasks = [asyncio.ensure_future(engine.infer(f)) for f in frames(30)]
    await asyncio.sleep(0.001)
    await asyncio.wait_for(engine.close(timeout=2.0), 5.0)
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    for o in outcomes:
        assert isinstance(o, (streamcore.Result, EngineClosedError)), o


def test_worker_threads_are_named(tiny_model: Path) -> None:
    async def run() -> List[str]:
        async with Engine(tiny_model, devices="cpu:2") as engine:
            await engine.infer(frames(1)[0])
            return [p.read_text().strip() for p in Path("/proc/self/task").glob("*/comm")]

    names = asyncio.run(run())
    assert {"sc-cpu0", "sc-cpu1"} <= set(names)
    assert "sc-notify" not in names  # the loop watches the wake-up descriptor itself


class _NoReaderLoop(asyncio.SelectorEventLoop):
    """A loop that cannot watch a descriptor, as Windows' proactor loop."""

    def add_reader(self, fd: Any, callback: Callable[..., object], *args: Any) -> None:  # type: ignore[override]
        raise NotImplementedError


def test_a_loop_that_cannot_watch_a_descriptor_is_woken_by_a_notifier_thread(tiny_model: Path) -> None:
    async def run() -> Tuple[List[str], List[Any]]:
        async with Engine(tiny_model, devices="cpu:2") as engine:
            results = await asyncio.gather(*(engine.infer(f) for f in frames(20)))
            return [p.read_text().strip() for p in Path("/proc/self/task").glob("*/comm")], results

    loop = _NoReaderLoop()
    try:
        names, results = loop.run_until_complete(run())
    finally:
        loop.close()
    assert "sc-notify" in names
    assert len(results) == 20 and all(isinstance(r, streamcore.Result) for r in results)


class _RecordingLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self.watched: List[int] = []

    def add_reader(self, fd: Any, callback: Callable[..., object], *args: Any) -> None:  # type: ignore[override]
        self.watched.append(fd)
        super().add_reader(fd, callback, *args)

    def remove_reader(self, fd: Any) -> bool:
        self.watched.remove(fd)
        return super().remove_reader(fd)


def test_close_stops_watching_the_wake_up_descriptor(tiny_model: Path) -> None:
    async def run() -> Tuple[List[int], int]:
        async with Engine(tiny_model, devices="cpu:1") as engine:
            await engine.infer(frames(1)[0])
            return list(loop.watched), engine._runner(None).native.wake_fd

    loop = _RecordingLoop()
    try:
        during, fd = loop.run_until_complete(run())
    finally:
        loop.close()
    assert fd in during
    assert fd not in loop.watched


# -- bad input --------------------------------------------------------------------------


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        Engine(tmp_path / "nope.tflite", devices="cpu")


@pytest.mark.parametrize(
    "blob",
    [b"", b"garbage" * 100, b"\x1c\x00\x00\x00TFL3" + b"\xff" * 200],
    ids=["empty", "garbage", "bad-header"],
)
def test_garbage_model_bytes(blob: bytes) -> None:
    with pytest.raises(ModelError):
        Engine(blob, devices="cpu")


def test_truncated_and_corrupted_models_never_crash() -> None:
    data = models.mobilenet_v2()
    for cut in (len(data) // 2, len(data) - 1000, 5000, 100):
        with pytest.raises(ModelError, match="corrupt|truncated|TFL3|too short"):
            streamcore.Model(data[:cut])


async def test_model_whose_input_is_not_an_image() -> None:
    with pytest.raises(ModelError, match="not an image tensor"):
        async with Engine(models.non_image_model(), devices="cpu"):
            pass


async def test_edgetpu_model_on_cpu_says_which_device_it_needs(shared_data: Path) -> None:
    model = shared_data / "models" / "mobilenet_v2_1.0_224_quant_edgetpu.tflite"
    with pytest.raises(ModelError, match="Edge TPU"):
        async with Engine(model, devices="cpu"):
            pass


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((32, 32, 3), np.float32),
        np.zeros((2, 32, 32, 3), np.uint8),
        np.zeros((32,), np.uint8),
        np.zeros((32, 32, 5), np.uint8),
        "not a frame",
    ],
    ids=["float32", "rank4", "rank1", "5-channels", "str"],
)
async def test_bad_input_arrays(tiny_model: Path, bad: Any) -> None:
    async with Engine(tiny_model, devices="cpu") as engine:
        with pytest.raises(InputError):
            await engine.infer(bad)
        await engine.infer(frames(1)[0])  # the engine is unharmed


@pytest.mark.parametrize("roi", [(50, 0, 20, 20), (0, 0, 0, 10), (-1, 0, 10, 10), (0, 40, 10, 10), "x"])
async def test_roi_outside_the_frame(tiny_model: Path, roi: Any) -> None:
    async with Engine(tiny_model, devices="cpu") as engine:
        with pytest.raises(RoiError):
            await engine.infer(frames(1, h=48, w=64)[0], roi=roi)
        assert engine.inflight == 0


async def test_roi_selects_the_region(tiny_model: Path) -> None:
    frame = frames(1, h=48, w=64)[0]
    async with Engine(tiny_model, devices="cpu") as engine:
        whole = await engine.infer(frame[8:40, 16:48].copy())
        roi = await engine.infer(frame, roi=(16, 8, 32, 32))
    np.testing.assert_array_equal(whole.outputs[0], roi.outputs[0])
    assert (roi.geometry.src_x, roi.geometry.src_y, roi.geometry.src_w) == (16, 8, 32)


@pytest.mark.parametrize("kwargs", [{"fit": "zoom"}, {"filter": "cubic"}, {"queue_depth": 0}])
def test_bad_engine_options(tiny_model: Path, kwargs: Any) -> None:
    with pytest.raises(InputError):
        Engine(tiny_model, devices="cpu", **kwargs)


def test_errors_are_streamcore_errors_and_builtins() -> None:
    assert issubclass(ModelError, ValueError) and issubclass(ModelError, streamcore.StreamcoreError)
    assert issubclass(RoiError, InputError) and issubclass(InputError, ValueError)
    assert issubclass(streamcore.DeviceNotFoundError, LookupError)
