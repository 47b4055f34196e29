"""Pipelined models: segments on their own devices, chained natively by tensor name, several
frames in flight, replicas of the slowest segment, failover per segment, and the bad inputs
(segments that do not chain, too few devices). On the CPU (tiny segments against the unsplit
model) and on the simulated libedgetpu (its outputs are a function of its inputs)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, List, Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from streamcore import DeviceNotFoundError, DeviceSpecError, Engine, InputError, ModelError, Segments, StreamcoreError
from streamcore._native import core
from streamcore.backends import registry
from streamcore.backends.edgetpu import sim_runtime
from streamcore.models import GraphBuilder, edgetpu_segments, tiny_segments
from streamcore.tools.synthetic import options
from tests.reference import needs_tflite, tflite_missing

CPU_BACKENDS = ["tflite", "litert"]  # the backends that run multi-input models


@pytest.fixture(params=CPU_BACKENDS)
def cpu_backend(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    why = registry.get(name).unavailable()
    if why is not None:
        pytest.skip(why)
    return name

SIDE = 16  # the synthetic Edge TPU segments' input side
CLASSES = 10
FEATURES = (24, 8)


def frames(n: int, seed: int = 0, shape: Sequence[int] = (24, 32, 3)) -> List[NDArray[Any]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, tuple(shape), dtype=np.uint8) for _ in range(n)]


def tpu_segments(latencies: Sequence[float]) -> List[bytes]:
    segments: List[bytes] = edgetpu_segments(latencies, input_size=SIDE, feature_sizes=FEATURES, num_classes=CLASSES)[1]
    return segments


def sim_outputs(sizes: Sequence[int], s: int) -> List[NDArray[np.uint8]]:
    """The simulator's outputs of one node whose inputs' bytes sum to `s` (csrc/edgetpu_sim/sim_op.cpp)."""
    out = []
    for k, n in enumerate(sizes):
        j = np.arange(n, dtype=np.int64)
        if k == 0:
            o = ((s + j) % 64).astype(np.uint8)
            o[s % n] = 255
        else:
            o = ((s + 17 * k + j) % 256).astype(np.uint8)
        out.append(o)
    return out


def expected_scores(frame: NDArray[Any]) -> NDArray[np.uint8]:
    """What two simulated segments give for a frame: segment 1's outputs from segment 0's."""
    tensor = np.zeros((1, SIDE, SIDE, 3), np.uint8)
    core.preprocess(core.FrameView("rgb24", frame.shape[1], frame.shape[0], [frame]), tensor,
                    core.PreprocessParams(), 1 / 128, 128)
    features = sim_outputs(FEATURES, int(tensor.astype(np.int64).sum()))
    return sim_outputs((CLASSES,), int(sum(int(f.astype(np.int64).sum()) for f in features)))[0]


@pytest.fixture(autouse=True)
def healthy_simulator() -> Any:
    yield
    if tflite_missing():
        return
    runtime = sim_runtime(1, None)
    for i in range(3):  # enumerate() leaves unplugged devices out
        try:
            runtime.sim_fault(f"sim:{i}", "replug")
        except DeviceNotFoundError:
            pass  # the simulator has fewer devices


# -- CPU: split == unsplit ------------------------------------------------------------------


async def test_tiny_segments_on_two_cpu_devices_give_the_unsplit_models_outputs(cpu_backend: str) -> None:
    whole, seg0, seg1 = tiny_segments((32, 32, 3), num_classes=CLASSES)
    batch = frames(24, shape=(48, 64, 3))
    async with Engine(whole, devices=f"{cpu_backend}:cpu:1") as engine:
        reference = [await engine.infer(f) for f in batch]
    async with Engine(Segments([seg0, seg1]), devices=f"{cpu_backend}:cpu:2") as engine:
        assert [len(p["devices"]) for p in engine.plan()] == [1, 1]
        assert [o.name for o in engine.output_details()] == ["probabilities", "channel_means"]
        results = await asyncio.gather(*(engine.infer(f) for f in batch))
        stats = engine.stats()
    for got, want in zip(results, reference):
        assert len(got.outputs) == 2
        for a, b in zip(got.outputs, want.outputs):
            np.testing.assert_array_equal(a, b)
    assert len({r.outputs[0].tobytes() for r in results}) > 1  # the outputs follow the frames
    # Each frame ran once on each segment's device, and the geometry is segment 0's.
    assert [(s["segment"], s["frames"], s["backend"]) for s in stats] == [(0, 24, cpu_backend), (1, 24, cpu_backend)]
    assert results[0].geometry.tensor_w == 32


async def test_a_list_of_segments_is_the_pycoral_style_spelling(cpu_backend: str) -> None:
    _, seg0, seg1 = tiny_segments((16, 16, 3), num_classes=4)
    async with Engine([seg0, seg1], devices=f"{cpu_backend}:cpu:2") as engine:
        result = await engine.infer(frames(1)[0])
        assert len(engine.plan()) == 2
    assert result.outputs[0].shape == (1, 4)


# -- simulator: each result from its own frame ------------------------------------------------


@needs_tflite
async def test_simulated_segments_pipeline_frames_and_each_result_is_its_own() -> None:
    batch = frames(48)
    async with Engine(Segments(tpu_segments((1.0, 1.0))), devices="sim:2") as engine:
        assert engine.capacity >= 4  # several frames in flight across the two segments
        results = await asyncio.gather(*(engine.infer(f) for f in batch))
        stats = {s["name"]: s for s in engine.stats()}
    for frame, result in zip(batch, results):
        np.testing.assert_array_equal(result.outputs[0][0], expected_scores(frame))
    assert stats["sim0"]["segment"] == 0 and stats["sim1"]["segment"] == 1
    assert stats["sim0"]["frames"] == stats["sim1"]["frames"] == 48
    runtime = sim_runtime(2, None)
    assert all(runtime.sim_stats(f"sim:{i}")[0] >= 48 for i in range(2))  # invokes reached each TPU


@needs_tflite
async def test_shared_ssd_segments_on_the_simulator_each_result_from_its_own_frame(shared_data: Path) -> None:
    models = shared_data / "models"
    paths = [models / f"ssd_mobilenet_v2_coco_quant_postprocess_segment_{k}_of_2_edgetpu.tflite" for k in (0, 1)]
    batch = frames(12, seed=5, shape=(120, 160, 3))
    async with Engine(Segments(paths), devices="sim:2@0.5ms") as engine:
        assert [o.shape for o in engine.output_details()] == [(1, 20, 4), (1, 20), (1, 20), (1,)]
        alone = [await engine.infer(f) for f in batch]  # one frame in flight at a time
        together = await asyncio.gather(*(engine.infer(f) for f in batch))
    for a, b in zip(alone, together):
        for x, y in zip(a.outputs, b.outputs):
            np.testing.assert_array_equal(x, y)
    # Different frames give different results, so a mix-up would show.
    assert len({r.outputs[2].tobytes() + r.outputs[1].tobytes() for r in alone}) > 1


@needs_tflite
async def test_the_slowest_segment_gets_the_spare_devices_and_the_plan_shows_it() -> None:
    batch = frames(30, seed=2)
    async with Engine(Segments(tpu_segments((30.0, 0.0))), devices="sim:3") as engine:
        plan = engine.plan()
        assert [p["devices"] for p in plan] == [["sim0", "sim2"], ["sim1"]]
        assert all(isinstance(p["invoke_ms"], float) for p in plan)  # measured; the figures are in benchmarks/
        results = await asyncio.gather(*(engine.infer(f) for f in batch))
        stats = {s["name"]: s for s in engine.stats()}
    for frame, result in zip(batch, results):
        np.testing.assert_array_equal(result.outputs[0][0], expected_scores(frame))
    assert stats["sim2"]["segment"] == 0 and stats["sim2"]["segment_model"] == plan[0]["model"]
    assert stats["sim0"]["frames"] + stats["sim2"]["frames"] == 30 == stats["sim1"]["frames"]
    assert stats["sim0"]["frames"] > 0 and stats["sim2"]["frames"] > 0  # both replicas served


# -- faults ------------------------------------------------------------------------------------


@needs_tflite
async def test_a_failing_segment_device_hands_its_frames_to_the_replica() -> None:
    batch = frames(40, seed=3)
    async with Engine(Segments(tpu_segments((30.0, 0.0))), devices="sim:3") as engine:
        assert engine.plan()[0]["devices"] == ["sim0", "sim2"]
        sim_runtime(3, None).sim_fault("sim:0", "fail_after", 3)
        results = await asyncio.gather(*(engine.infer(f) for f in batch))
        stats = {s["name"]: s for s in engine.stats()}
    # Every frame has exactly its own result (none lost, none from another frame).
    for frame, result in zip(batch, results):
        np.testing.assert_array_equal(result.outputs[0][0], expected_scores(frame))
    assert stats["sim0"]["errors"] >= 1 and stats["sim0"]["retried"] >= 1
    assert stats["sim1"]["frames"] == 40


@needs_tflite
async def test_a_segment_without_replica_gives_its_frames_an_explicit_error() -> None:
    batch = frames(16, seed=4)
    async with Engine(Segments(tpu_segments((1.0, 1.0))), devices="sim:2") as engine:
        first = await asyncio.gather(*(engine.infer(f) for f in batch[:4]))
        sim_runtime(2, None).sim_fault("sim:1", "unplug")
        outcomes = await asyncio.gather(*(engine.infer(f) for f in batch), return_exceptions=True)
    assert all(isinstance(r.outputs[0], np.ndarray) for r in first)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert errors, "segment 1's device was unplugged"
    assert all(isinstance(e, StreamcoreError) for e in errors), errors
    assert any("segment 1" in str(e) or "sim1" in str(e) or "unplugged" in str(e) for e in errors), errors
    for frame, outcome in zip(batch, outcomes):  # what did complete is still its own frame's
        if not isinstance(outcome, BaseException):
            np.testing.assert_array_equal(outcome.outputs[0][0], expected_scores(frame))


# -- bad input ---------------------------------------------------------------------------------


def test_segments_whose_tensor_names_differ_are_refused_naming_them() -> None:
    _, seg0, _ = tiny_segments((32, 32, 3))
    other = tpu_segments((1.0, 1.0))[1]
    with pytest.raises(ModelError, match=r"do not chain.*'segment_0/features_0'.*\['flatten', 'pool'\]"):
        Segments([seg0, other])


def test_segments_whose_shapes_differ_are_refused_naming_the_tensor() -> None:
    _, seg0, _ = tiny_segments((32, 32, 3))
    _, _, seg1 = tiny_segments((32, 32, 1))
    with pytest.raises(ModelError, match=r"do not chain: tensor 'pool' is \[1, 4, 4, 3\] uint8 .* \[1, 4, 4, 1\] uint8"):
        Segments([seg0, seg1])


def test_segments_whose_dtypes_differ_are_refused_naming_the_tensor() -> None:
    _, seg0, _ = tiny_segments((16, 16, 3))
    g = GraphBuilder()
    pool = g.tensor("pool", (1, 4, 4, 3), "float32")
    flat = g.tensor("flatten", (1, 48), "uint8")
    out = g.tensor("out", (1, 4, 4, 3), "float32")
    g.operator("RELU", [pool], [out])
    with pytest.raises(ModelError, match=r"tensor 'pool' is \[1, 4, 4, 3\] uint8 .* float32"):
        Segments([seg0, g.build([pool, flat], [out])])


@needs_tflite
async def test_a_segmented_model_on_too_few_devices_says_how_many_it_needs() -> None:
    _, seg0, seg1 = tiny_segments((16, 16, 3))
    with pytest.raises(DeviceSpecError, match=r"in 2 segments needs at least 2 devices.*gives 1 \(cpu0\)"):
        async with Engine(Segments([seg0, seg1]), devices="cpu:1"):
            pass
    with pytest.raises(DeviceSpecError, match="needs at least 3 devices"):
        async with Engine(Segments(tpu_segments((1.0, 1.0, 1.0))), devices="sim:2"):
            pass


def test_segments_take_a_list() -> None:
    _, seg0, _ = tiny_segments((16, 16, 3))
    with pytest.raises(InputError, match="list of segment models"):
        Segments(seg0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="at least one"):
        Segments([])


@needs_tflite
async def test_a_later_segment_alone_is_refused_as_it_takes_no_image() -> None:
    seg1 = tpu_segments((1.0, 1.0))[1]
    with pytest.raises(ModelError, match="none of its 2 inputs"):
        async with Engine(seg1, devices="sim:1"):
            pass


# -- multi-input models: the image from the frame, the rest from the caller --------------------


def image_and_offset_model() -> bytes:
    """float32 image [1, 4, 4, 3] -> mean per channel [1, 3]; + input "offset" [1, 3] -> output."""
    g = GraphBuilder()
    offset = g.tensor("offset", (1, 3), "float32")
    image = g.tensor("image", (1, 4, 4, 3), "float32")
    pooled = g.tensor("pooled", (1, 1, 1, 3), "float32")
    g.operator("AVERAGE_POOL_2D", [image], [pooled], options.pool_2d((4, 4), (4, 4), "valid"))
    flat = g.tensor("flat", (1, 3), "float32")
    shape = g.constant("flat/shape", np.array([1, 3], np.int32))
    g.operator("RESHAPE", [pooled, shape], [flat], options.reshape([1, 3]))
    out = g.tensor("sum", (1, 3), "float32")
    g.operator("ADD", [flat, offset], [out], options.add())
    return g.build([offset, image], [out])


async def test_a_multi_input_model_takes_its_other_inputs_from_the_caller_by_name(cpu_backend: str) -> None:
    frame = np.full((8, 8, 3), 192, np.uint8)  # (192 - 128) / 128 = 0.5 after preprocess
    async with Engine(image_and_offset_model(), devices=f"{cpu_backend}:cpu:1") as engine:
        assert [i.name for i in engine.input_details()] == ["offset", "image"]
        results = await asyncio.gather(*(engine.infer(frame, inputs={"offset": [[k, 10.0 * k, -k]]}) for k in range(6)))
        for k, result in enumerate(results):
            np.testing.assert_allclose(result.outputs[0], [[0.5 + k, 0.5 + 10 * k, 0.5 - k]], rtol=1e-6)
        with pytest.raises(InputError, match=r"needs input 'offset' besides the frame"):
            await engine.infer(frame)
        with pytest.raises(InputError, match="has no input 'bias'"):
            await engine.infer(frame, inputs={"offset": np.zeros((1, 3)), "bias": 1})
        with pytest.raises(InputError, match=r"input 'offset' is \[1, 3\] float32; got shape \[4\]"):
            await engine.infer(frame, inputs={"offset": np.zeros(4, np.float32)})


async def test_caller_inputs_are_held_until_the_frame_ran(cpu_backend: str) -> None:
    """The native job keeps the caller's array alive: dropping it after infer() is safe."""
    frame = np.full((8, 8, 3), 128, np.uint8)
    async with Engine(image_and_offset_model(), devices=f"{cpu_backend}:cpu:1") as engine:

        async def one(k: int) -> Any:
            task = asyncio.ensure_future(engine.infer(frame, inputs={"offset": np.full((1, 3), float(k), np.float32)}))
            import gc

            gc.collect()
            return await task

        results = await asyncio.gather(*(one(k) for k in range(8)))
    for k, result in enumerate(results):
        np.testing.assert_allclose(result.outputs[0], [[k, k, k]], atol=1e-6)


@needs_tflite
async def test_a_replugged_segment_device_is_reopened_with_its_own_segment() -> None:
    """The health monitor rebuilds a failed device with the model of its segment."""
    batch = frames(12, seed=6)
    async with Engine(Segments(tpu_segments((1.0, 1.0))), devices="sim:2") as engine:
        runtime = sim_runtime(2, None)
        runtime.sim_fault("sim:1", "unplug")
        await asyncio.gather(*(engine.infer(f) for f in batch[:4]), return_exceptions=True)
        runtime.sim_fault("sim:1", "replug")
        for _ in range(200):
            stats = {s["name"]: s for s in engine.stats()}
            if stats["sim1"]["healthy"] and stats["sim1"]["reopens"]:
                break
            await asyncio.sleep(0.05)
        assert stats["sim1"]["reopens"] >= 1 and stats["sim1"]["segment"] == 1, stats
        results = await asyncio.gather(*(engine.infer(f) for f in batch))
    for frame, result in zip(batch, results):
        np.testing.assert_array_equal(result.outputs[0][0], expected_scores(frame))


@needs_tflite
async def test_a_pipeline_of_segments_gives_every_frame_in_order() -> None:
    from streamcore import Pipeline
    from tests.pipeline_helpers import assert_in_order, collect, end_of

    batch = frames(40, seed=7)
    async with Pipeline(model=Segments(tpu_segments((3.0, 0.0))), devices="sim:3") as p:
        p.add_source(batch, name="a")
        p.add_source(batch[::-1], name="b")
        records = await collect(p)
        stats = p.stats()
    assert [plan["devices"] for plan in stats["plan"]["default"]] == [["sim0", "sim2"], ["sim1"]]
    assert {name: d["segment"] for name, d in stats["devices"].items()} == {"sim0": 0, "sim1": 1, "sim2": 0}
    for name, sent in (("a", batch), ("b", batch[::-1])):
        results = [r for r in records[name] if r.ok]
        assert [r.index for r in results] == list(range(40))
        assert_in_order(records[name])
        assert end_of(records[name]).error is None
        for frame, record in zip(sent, results):
            np.testing.assert_array_equal(record.outputs[0][0], expected_scores(frame))


@needs_tflite
async def test_segments_overlap_frames_and_the_frames_between_them_are_bounded() -> None:
    """While segment 1 runs frame n, segment 0 runs frame n+1; however many callers wait, the
    frames held by the segments never exceed the engine's capacity (backpressure)."""
    batch = frames(24, seed=8)
    async with Engine(Segments(tpu_segments((20.0, 20.0))), devices="sim:2", queue_depth=2) as engine:
        capacity = engine.capacity
        tasks = [asyncio.ensure_future(engine.infer(f)) for f in batch]
        overlapped = False
        most = 0
        while not all(t.done() for t in tasks):
            stats = {s["name"]: s for s in engine.stats()}
            most = max(most, sum(s["inflight"] for s in stats.values()))
            # A frame has finished segment 0 (sim1 has it) while sim0 holds a later one.
            overlapped |= stats["sim0"]["inflight"] > 0 and stats["sim1"]["inflight"] > 0 and stats["sim1"]["frames"] < 24
            await asyncio.sleep(0.002)
        results = await asyncio.gather(*tasks)
    assert overlapped, "segment 0 never held a frame while segment 1 held another"
    assert 0 < most <= capacity == 4
    for frame, result in zip(batch, results):
        np.testing.assert_array_equal(result.outputs[0][0], expected_scores(frame))
