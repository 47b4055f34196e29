"""The engine on Edge TPUs, through the simulated libedgetpu (loaded by the same code as the
real one): sharding, routing of results, pinning, failover, device specs and errors."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest
from numpy.typing import NDArray

from streamcore import (
    Deploy,
    DeviceError,
    DeviceNotFoundError,
    EdgeTpuUnavailableError,
    InferenceError,
    Engine,
    ModelError,
    Pipeline,
    Result,
    models,
)
from streamcore.backends.edgetpu import sim_runtime
from tests.edgetpu_model import edgetpu_model, random_frames, sim_expected_class
from tests.reference import needs_tflite

pytestmark = needs_tflite

H, W, CLASSES = 16, 16, 10


@pytest.fixture(scope="module")
def tpu_model() -> bytes:
    return edgetpu_model(height=H, width=W, output_sizes=(CLASSES,))


frames = random_frames


def expected_class(frame: NDArray[Any]) -> int:
    return sim_expected_class(frame, H, W, CLASSES)


def top(result: Result) -> int:
    return int(np.argmax(result.outputs[0]))


@pytest.fixture(autouse=True)
def healthy_simulator() -> Any:
    yield
    runtime = sim_runtime(1, None)
    for _, path in runtime.enumerate():
        runtime.sim_fault(path, "replug")


async def test_one_stream_uses_every_tpu_and_each_result_is_its_frames(tpu_model: bytes) -> None:
    batch = frames(64)
    async with Engine(tpu_model, devices="sim:4@1ms") as engine:
        assert engine.devices == ["sim0", "sim1", "sim2", "sim3"]
        results = await asyncio.gather(*(engine.infer(f) for f in batch))
        stats = engine.stats()
    assert [top(r) for r in results] == [expected_class(f) for f in batch]
    assert {r.device for r in results} == {"sim0", "sim1", "sim2", "sim3"}
    assert all(s["simulated"] and s["kind"] == "sim" for s in stats)
    assert sum(s["frames"] for s in stats) == 64


async def test_real_edgetpu_models_run_on_the_simulator(shared_data: Path) -> None:
    model = shared_data / "models" / "mobilenet_v2_1.0_224_quant_edgetpu.tflite"
    frame = frames(1)[0]
    async with Engine(model, devices="sim:2") as engine:
        result = await engine.infer(frame)
    assert result.outputs[0].shape == (1, 1001)
    # The invoke reached the simulated TPU (its own counter), not the host CPU alone.
    assert result.timings.invoke_ms > 0 and sum(sim_runtime(2, None).sim_stats(f"sim:{i}")[0] for i in range(2)) >= 1


async def test_models_pinned_to_their_own_tpus(tpu_model: bytes) -> None:
    other = edgetpu_model(height=8, width=8, output_sizes=(7,))
    async with Engine({"a": (tpu_model, "sim0"), "b": Deploy(other, "sim1")}) as engine:
        assert engine.models == ["a", "b"]
        ra = await asyncio.gather(*(engine.infer(f, model="a") for f in frames(8)))
        rb = await asyncio.gather(*(engine.infer(f, model="b") for f in frames(8)))
        with pytest.raises(ValueError, match="several models"):
            await engine.infer(frames(1)[0])
        with pytest.raises(ValueError, match="no model named"):
            await engine.infer(frames(1)[0], model="c")
    assert {r.device for r in ra} == {"sim0"} and {r.device for r in rb} == {"sim1"}
    assert all(r.outputs[0].shape == (1, 7) for r in rb)


async def test_failed_device_loses_nothing_and_rejoins(tpu_model: bytes) -> None:
    batch = frames(120, seed=3)
    async with Engine(tpu_model, devices="sim:3@1ms", queue_depth=3) as engine:
        runtime = sim_runtime(3, 1.0)
        runtime.sim_fault("sim:1", "fail_after", 5)
        results = await asyncio.gather(*(engine.infer(f) for f in batch))
        assert [top(r) for r in results] == [expected_class(f) for f in batch]  # none lost
        by_name = {s["name"]: s for s in engine.stats()}
        assert by_name["sim1"]["retried"] >= 1 and not by_name["sim1"]["healthy"]
        runtime.sim_fault("sim:1", "replug")
        for _ in range(100):
            if {s["name"]: s for s in engine.stats()}["sim1"]["healthy"]:
                break
            await asyncio.sleep(0.05)
        assert {s["name"]: s for s in engine.stats()}["sim1"]["reopens"] >= 1
        more = await asyncio.gather(*(engine.infer(f) for f in frames(30, seed=4)))
        assert "sim1" in {r.device for r in more}


async def test_a_file_stream_through_a_failing_device_loses_nothing_and_keeps_order(tpu_model: bytes) -> None:
    batch = frames(120, seed=6)
    async with Pipeline(model=tpu_model, devices="sim:3@1ms", queue_depth=3) as p:
        sim_runtime(3, 1.0).sim_fault("sim:1", "fail_after", 5)
        cam = p.add_source(batch, name="cam")  # lossless: submitted from its own thread
        records = [r async for r in cam.results()]
        retried = {s["name"]: s for s in p.engine.stats()}["sim1"]["retried"]
    assert [r.kind for r in records] == ["result"] * len(batch) + ["end"]
    assert [r.index for r in records[:-1]] == list(range(len(batch)))
    assert [top(r.result) for r in records[:-1] if r.result is not None] == [expected_class(f) for f in batch]
    assert retried >= 1


async def test_unplugged_device_is_reopened_when_it_comes_back(tpu_model: bytes) -> None:
    async with Engine(tpu_model, devices="sim:2@1ms") as engine:
        runtime = sim_runtime(2, 1.0)
        runtime.sim_fault("sim:0", "unplug")
        results = await asyncio.gather(*(engine.infer(f) for f in frames(40)))
        assert {r.device for r in results} == {"sim1"} or "sim0" not in {r.device for r in results[-10:]}
        await asyncio.sleep(0.3)  # a few reopen attempts fail while it is unplugged
        assert not {s["name"]: s for s in engine.stats()}["sim0"]["healthy"]
        runtime.sim_fault("sim:0", "replug")
        for _ in range(100):
            if {s["name"]: s for s in engine.stats()}["sim0"]["healthy"]:
                break
            await asyncio.sleep(0.05)
        results = await asyncio.gather(*(engine.infer(f) for f in frames(20, seed=5)))
        assert "sim0" in {r.device for r in results}
        assert [top(r) for r in results] == [expected_class(f) for f in frames(20, seed=5)]


async def test_every_frame_gets_an_explicit_error_when_all_devices_die(tpu_model: bytes) -> None:
    async with Engine(tpu_model, devices="sim:2@1ms") as engine:
        runtime = sim_runtime(2, 1.0)
        for path in ("sim:0", "sim:1"):
            runtime.sim_fault(path, "unplug")
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(engine.infer(f) for f in frames(20)), return_exceptions=True), 10
        )
    # Failed on every device it tried (InferenceError) or found none left (DeviceError).
    assert outcomes and all(isinstance(o, (DeviceError, InferenceError)) for o in outcomes), outcomes


async def test_cpu_model_on_a_tpu_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="streamcore.edgetpu"):
        async with Engine(models.tiny_classifier((16, 16, 3)), devices="sim:1") as engine:
            await engine.infer(frames(1)[0])
    assert "runs entirely on the host CPU" in caplog.text


async def test_edgetpu_model_on_cpu_names_the_device_it_needs(tpu_model: bytes) -> None:
    with pytest.raises(ModelError, match="Edge TPU"):
        async with Engine(tpu_model, devices="cpu"):
            pass


# -- the real library path (no hardware here) -----------------------------------------


async def test_missing_libedgetpu(tpu_model: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMCORE_LIBEDGETPU", "/nonexistent/libedgetpu.so.1")
    with pytest.raises(EdgeTpuUnavailableError, match="libedgetpu1-std"):
        async with Engine(tpu_model, devices="usb"):
            pass


async def test_missing_libedgetpu_falls_back_to_cpu_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMCORE_LIBEDGETPU", "/nonexistent/libedgetpu.so.1")
    model = models.tiny_classifier((16, 16, 3))
    async with Engine(model, devices="usb", fallback_to_cpu=True) as engine:
        assert engine.devices[0].startswith("cpu")
        await engine.infer(frames(1)[0])
    async with Engine(model, devices="auto") as engine:
        assert engine.devices[0].startswith("cpu")


async def test_library_without_the_symbols(tpu_model: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMCORE_LIBEDGETPU", "libm.so.6")
    with pytest.raises(EdgeTpuUnavailableError, match="GetSingleton|symbol"):
        async with Engine(tpu_model, devices="usb:0"):
            pass


async def test_the_real_path_finds_no_usb_device(tpu_model: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    # The simulator loaded as if it were the system library: it has no USB devices.
    from streamcore.backends.sim import sim_library_path

    monkeypatch.setenv("STREAMCORE_LIBEDGETPU", sim_library_path())
    with pytest.raises(DeviceNotFoundError, match="no Edge TPU matches usb"):
        async with Engine(tpu_model, devices="usb"):
            pass


@pytest.mark.parametrize("spec", ["usb:7", "pci", ":3", "/dev/apex_9"])
async def test_spec_naming_a_device_that_is_not_there(tpu_model: bytes, spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMCORE_LIBEDGETPU", "/nonexistent/libedgetpu.so.1")
    with pytest.raises((DeviceNotFoundError, EdgeTpuUnavailableError)):
        async with Engine(tpu_model, devices=spec):
            pass


@pytest.mark.parametrize("spec", ["gpu", "cpu:0", "sim:0", "usb:x", "", "usb0@3ms"])
def test_invalid_device_specs(tpu_model: bytes, spec: str) -> None:
    with pytest.raises(DeviceError, match="device spec"):
        Engine(tpu_model, devices=spec)


@pytest.mark.parametrize(
    "kwargs", [{"performance": "turbo"}, {"usb_max_bulk_in_queue_length": 1000}, {"usb_max_bulk_in_queue_length": -1}]
)
def test_invalid_option_values(tpu_model: bytes, kwargs: Dict[str, Any]) -> None:
    with pytest.raises(DeviceError, match="invalid"):
        Engine(tpu_model, devices="sim:1", **kwargs)


async def test_valid_options_reach_libedgetpu(tpu_model: bytes) -> None:
    async with Engine(tpu_model, devices="sim:1", performance="max", usb_max_bulk_in_queue_length=32) as engine:
        await engine.infer(frames(1)[0])
        opened = engine._runner(None).devices[0]
        assert opened is not None and opened.tpu.options()["Performance"] == "Max"


async def test_opening_the_same_device_twice(tpu_model: bytes) -> None:
    async with Engine(tpu_model, devices="sim:1"):
        with pytest.raises(DeviceError, match="already open"):
            async with Engine(tpu_model, devices="sim:1"):
                pass
    async with Engine(tpu_model, devices="sim:1"):  # released on close
        pass


async def test_device_named_twice_in_one_spec(tpu_model: bytes) -> None:
    with pytest.raises(DeviceError, match="named twice"):
        async with Engine(tpu_model, devices="sim0,sim0"):
            pass


async def test_simulated_devices_are_labelled_in_the_logs(tpu_model: bytes, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="streamcore.devices"):
        async with Engine(tpu_model, devices="sim:2"):
            pass
    opened = [r.getMessage() for r in caplog.records if "opened Edge TPU" in r.getMessage()]
    assert len(opened) == 2 and all("SIMULATED" in m and "SIMULATOR" in m for m in opened)


async def test_closing_while_a_device_is_reopened_leaves_no_device_open(tpu_model: bytes) -> None:
    """A reopen that is still building when close() runs must not install its device after
    close() returns, and every device must be closed then (slowed reopen)."""
    engine = Engine(tpu_model, devices="sim:2@1ms")
    await engine.start()
    runtime = sim_runtime(2, 1.0)
    pool = engine._pool
    building = asyncio.Event()
    loop = asyncio.get_running_loop()
    original = pool.build

    def slow_build(model: Any, placement: Any) -> Any:
        loop.call_soon_threadsafe(building.set)
        time.sleep(0.5)
        return original(model, placement)

    pool.build = slow_build  # type: ignore[method-assign]
    try:
        runtime.sim_fault("sim:0", "unplug")
        await asyncio.gather(*(engine.infer(f) for f in frames(8)), return_exceptions=True)
        await asyncio.sleep(0.3)  # taken out, retired and closed; reopening fails while unplugged
        runtime.sim_fault("sim:0", "replug")  # present again: the monitor reopens it, slowly
        await asyncio.wait_for(building.wait(), 10)
        await engine.close()
        assert runtime.opened_paths() == [], runtime.opened_paths()
        await asyncio.sleep(0.7)  # the slowed build has finished by now
        assert runtime.opened_paths() == [], "a reopen installed a device after close()"
    finally:
        runtime.sim_fault("sim:0", "replug")
        await engine.close()


async def test_device_counters_keep_their_totals_across_a_reopen(tpu_model: bytes) -> None:
    """After an unplug and replug, stats still add up to every frame run, and the failed
    invoke is counted as an error of the device it failed on."""
    async with Engine(tpu_model, devices="sim:2@1ms") as engine:
        runtime = sim_runtime(2, 1.0)
        first = await asyncio.gather(*(engine.infer(f) for f in frames(20)))
        runtime.sim_fault("sim:0", "fail_after", 0)
        second = await asyncio.gather(*(engine.infer(f) for f in frames(20, seed=3)))
        runtime.sim_fault("sim:0", "unplug")
        await asyncio.sleep(0.3)
        runtime.sim_fault("sim:0", "replug")
        for _ in range(100):
            if engine.stats()[0]["healthy"] and engine.stats()[0]["reopens"]:
                break
            await asyncio.sleep(0.05)
        third = await asyncio.gather(*(engine.infer(f) for f in frames(20, seed=4)))
        stats = {s["name"]: s for s in engine.stats()}
    ran = len(first) + len(second) + len(third)
    assert sum(s["frames"] for s in stats.values()) == ran, stats
    assert stats["sim0"]["errors"] >= 1 and stats["sim0"]["reopens"] >= 1, stats
    assert stats["sim0"]["frames"] == sum(r.device == "sim0" for r in first + second + third)
