"""A mixed engine: a simulated Edge TPU next to a CPU device of another backend, one model.
Unplugging the TPU mid-stream loses no frame, duplicates none, and moves the stream to
the CPU device."""

from __future__ import annotations

import asyncio
import collections
import logging
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from numpy.typing import NDArray

from streamcore import Classify, Engine, Result, read_labels
from streamcore.backends import registry
from streamcore.backends.edgetpu import sim_runtime
from streamcore.sources.images import load_image

FRAMES = 60
UNPLUG_AFTER = 15  # completed frames
IN_FLIGHT = 4
SIM_PATH = "sim:0"  # the path of sim0 in the simulator's enumerate()
# The imagenet model's top-1 class of each image (test_accuracy.py).
IMAGES = {"cat_720p.jpg": 286, "parrot.jpg": 89, "grace_hopper.bmp": 653}


def cpu_device() -> Tuple[str, str]:
    """(spec, backend) of the CPU side: OpenVINO's CPU, else LiteRT."""
    for spec, name in (("openvino:CPU", "openvino"), ("litert:cpu:1", "litert")):
        if registry.get(name).unavailable() is None:
            return spec, name
    pytest.skip(f"neither openvino nor litert is installed: {registry.get('litert').unavailable()}")


@pytest.fixture(autouse=True)
def healthy_simulator() -> Iterator[None]:
    yield
    runtime = sim_runtime(1, None)
    for _, path in runtime.enumerate():
        runtime.sim_fault(path, "replug")


def healthy(engine: Engine, name: str) -> bool:
    return bool({s["name"]: s for s in engine.stats()}[name]["healthy"])


async def test_unplugging_the_tpu_moves_the_stream_to_the_cpu_device(
    shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec, cpu_backend = cpu_device()
    images: List[Tuple[NDArray[Any], int]] = [
        (load_image(shared_data / "images" / name), cls) for name, cls in IMAGES.items()
    ]
    model = shared_data / "models" / "mobilenet_v2_1.0_224_quant.tflite"
    adapter = Classify(top_k=1, labels=read_labels(shared_data / "models" / "imagenet_labels.txt"))

    results: Dict[int, Result] = {}
    completions: "collections.Counter[int]" = collections.Counter()
    order: List[int] = []  # indices in completion order
    unplugged = asyncio.Event()
    out_from: Optional[int] = None  # first frame submitted after sim0 left the rotation
    slots = asyncio.Semaphore(IN_FLIGHT)

    with caplog.at_level(logging.WARNING, logger="streamcore.edgetpu"):
        async with Engine(model, devices=f"sim:1,{spec}", adapter=adapter) as engine:
            assert "runs entirely on the host CPU" in caplog.text
            assert len(engine.devices) == 2 and engine.devices[0] == "sim0"
            cpu_name = engine.devices[1]
            runtime = sim_runtime(1, None)
            assert (SIM_PATH in [p for _, p in runtime.enumerate()])

            async def one(i: int) -> None:
                try:
                    result = await engine.infer(images[i % len(images)][0])
                finally:
                    slots.release()
                results[i] = result
                completions[i] += 1
                order.append(i)
                if len(order) == UNPLUG_AFTER:
                    runtime.sim_fault(SIM_PATH, "unplug")
                    unplugged.set()

            try:
                tasks = []
                for i in range(FRAMES):
                    await slots.acquire()
                    if out_from is None and unplugged.is_set() and not healthy(engine, "sim0"):
                        out_from = i
                    tasks.append(asyncio.ensure_future(one(i)))
                    await asyncio.sleep(0)
                await asyncio.gather(*tasks)
                stats = {s["name"]: s for s in engine.stats()}
            finally:
                runtime.sim_fault(SIM_PATH, "replug")

    # Every frame completed exactly once, none lost, none twice.
    assert sorted(order) == list(range(FRAMES))
    assert all(completions[i] == 1 for i in range(FRAMES)), completions
    print("DEV", [results[i].device for i in order], out_from, stats)
    assert sum(s["frames"] for s in stats.values()) == FRAMES, stats
    # The same answer for the same image, on either device.
    for i, result in results.items():
        image_class = images[i % len(images)][1]
        assert result.value[0].id == image_class, (i, result.device, result.value)
    # Both devices ran frames before the unplug; the stream moved to the CPU device after it.
    before = {results[i].device for i in order[:UNPLUG_AFTER]}
    assert before == {"sim0", cpu_name}, before
    assert out_from is not None and out_from < FRAMES - 10, out_from
    after = {results[i].device for i in range(out_from, FRAMES)}
    assert after == {cpu_name}, after
    assert not stats["sim0"]["healthy"] and stats[cpu_name]["healthy"]
    # Both devices report their backend.
    assert (stats["sim0"]["backend"], stats["sim0"]["kind"], stats["sim0"]["simulated"]) == ("edgetpu", "sim", True)
    assert (stats[cpu_name]["backend"], stats[cpu_name]["kind"]) == (cpu_backend, "cpu")
