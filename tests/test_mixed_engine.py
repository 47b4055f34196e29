"""A mixed engine: a simulated Edge TPU next to a CPU device of another backend, one model.
Unplugging the TPU mid-stream loses no frame, duplicates none, and moves the stream to
the CPU device."""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import av
import pytest

from streamcore import Classify, Engine, Result, read_labels
from streamcore.backends import registry
from streamcore.backends.edgetpu import sim_runtime
from streamcore.sources.images import load_image
from tests.reference import needs_tflite

pytestmark = needs_tflite

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


@dataclass
class UnplugRun:
    """What happened to FRAMES frames sent through `sim:1,<cpu device>` while sim0 was
    unplugged after UNPLUG_AFTER of them had completed."""

    cpu_name: str = ""
    cpu_backend: str = ""
    devices: List[str] = field(default_factory=list)
    expected: Dict[int, int] = field(default_factory=dict)  # frame -> top-1 class of its image
    results: Dict[int, Result] = field(default_factory=dict)
    completions: "collections.Counter[int]" = field(default_factory=collections.Counter)
    order: List[int] = field(default_factory=list)  # frames in completion order
    submitted_at_unplug: int = 0  # frames submitted when sim0 was unplugged
    out_from: Optional[int] = None  # the first frame submitted after sim0 left the rotation
    stats: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def replug_all() -> None:
    runtime = sim_runtime(1, None)
    for _, path in runtime.enumerate():
        runtime.sim_fault(path, "replug")


async def unplug_mid_stream(shared_data: Path, spec: str, run: UnplugRun) -> None:
    images: List[Tuple["av.VideoFrame", int]] = [
        (load_image(shared_data / "images" / name), cls) for name, cls in IMAGES.items()
    ]
    model = shared_data / "models" / "mobilenet_v2_1.0_224_quant.tflite"
    adapter = Classify(top_k=1, labels=read_labels(shared_data / "models" / "imagenet_labels.txt"))
    slots = asyncio.Semaphore(IN_FLIGHT)
    unplugged = asyncio.Event()

    async with Engine(model, devices=f"sim:1,{spec}", adapter=adapter) as engine:
        run.devices = list(engine.devices)
        run.cpu_name = engine.devices[-1]
        runtime = sim_runtime(1, None)  # the configuration the engine opened sim0 with
        assert SIM_PATH in [p for _, p in runtime.enumerate()]

        def sim0_healthy() -> bool:
            return bool({s["name"]: s for s in engine.stats()}["sim0"]["healthy"])

        async def one(i: int) -> None:
            image, cls = images[i % len(images)]
            run.expected[i] = cls
            try:
                result = await engine.infer(image)
            finally:
                slots.release()
            run.results[i] = result
            run.completions[i] += 1
            run.order.append(i)
            if len(run.order) == UNPLUG_AFTER:
                run.submitted_at_unplug = len(tasks)
                runtime.sim_fault(SIM_PATH, "unplug")
                unplugged.set()

        tasks: List["asyncio.Future[None]"] = []
        try:
            for i in range(FRAMES):
                await slots.acquire()  # IN_FLIGHT frames at a time, the next sent as one completes
                if run.out_from is None and unplugged.is_set() and not sim0_healthy():
                    run.out_from = i
                tasks.append(asyncio.ensure_future(one(i)))
                await asyncio.sleep(0)
            await asyncio.gather(*tasks)
            run.stats = {s["name"]: s for s in engine.stats()}
        finally:
            runtime.sim_fault(SIM_PATH, "replug")


@pytest.fixture(scope="module")
def unplug_run(shared_data: Path) -> Iterator[UnplugRun]:
    """Runs the scenario once (in its own event loop); the tests below check its parts."""
    spec, backend = cpu_device()
    run = UnplugRun(cpu_backend=backend)
    records = _Records()
    log = logging.getLogger("streamcore.edgetpu")
    log.addHandler(records)
    try:
        asyncio.run(asyncio.wait_for(unplug_mid_stream(shared_data, spec, run), timeout=60))
    finally:
        log.removeHandler(records)
        replug_all()
    run.warnings = records.messages
    yield run
    replug_all()


def test_the_cpu_model_runs_on_the_simulated_tpu_with_a_warning(unplug_run: UnplugRun) -> None:
    assert unplug_run.devices == ["sim0", unplug_run.cpu_name]
    assert any("runs entirely on the host CPU" in m and "sim0" in m for m in unplug_run.warnings), unplug_run.warnings


def test_every_frame_completes_exactly_once(unplug_run: UnplugRun) -> None:
    assert len(unplug_run.order) == FRAMES
    assert sorted(unplug_run.order) == list(range(FRAMES))  # none lost
    assert all(n == 1 for n in unplug_run.completions.values()), unplug_run.completions  # none twice
    assert sorted(unplug_run.results) == list(range(FRAMES))


def test_identical_frames_get_the_same_answer_on_either_device(unplug_run: UnplugRun) -> None:
    by_image: Dict[int, set[Tuple[int, str]]] = collections.defaultdict(set)
    for i, result in unplug_run.results.items():
        by_image[unplug_run.expected[i]].add((result.value[0].id, result.value[0].label))
    assert {cls: {c for c, _ in answers} for cls, answers in by_image.items()} == {
        cls: {cls} for cls in IMAGES.values()
    }, by_image
    assert all(len(answers) == 1 for answers in by_image.values())


def test_both_devices_ran_frames_before_the_unplug(unplug_run: UnplugRun) -> None:
    devices = [unplug_run.results[i].device for i in range(FRAMES)]
    before = set(devices[: unplug_run.submitted_at_unplug])
    assert unplug_run.submitted_at_unplug >= UNPLUG_AFTER
    assert before == {"sim0", unplug_run.cpu_name}, devices


def test_frames_after_the_unplug_run_on_the_cpu_device(unplug_run: UnplugRun) -> None:
    out_from = unplug_run.out_from
    assert out_from is not None and out_from <= FRAMES - 20, out_from  # noticed within a few frames
    after = [unplug_run.results[i].device for i in range(out_from, FRAMES)]
    assert set(after) == {unplug_run.cpu_name}, after
    stats = unplug_run.stats
    assert not stats["sim0"]["healthy"] and stats[unplug_run.cpu_name]["healthy"]


def test_the_cpu_device_reports_its_backend_and_frames(unplug_run: UnplugRun) -> None:
    s = unplug_run.stats[unplug_run.cpu_name]
    assert (s["backend"], s["kind"], s["simulated"]) == (unplug_run.cpu_backend, "cpu", False)
    ran = sum(r.device == unplug_run.cpu_name for r in unplug_run.results.values())
    assert s["frames"] == ran and s["errors"] == 0


def test_the_simulated_tpu_reports_the_edgetpu_backend(unplug_run: UnplugRun) -> None:
    s = unplug_run.stats["sim0"]
    assert (s["kind"], s["simulated"]) == ("sim", True)
    assert s["backend"] == "edgetpu", s


def test_stats_count_every_frame_after_a_device_is_taken_out(unplug_run: UnplugRun) -> None:
    ran = sum(r.device == "sim0" for r in unplug_run.results.values())
    assert ran >= 1
    assert unplug_run.stats["sim0"]["frames"] == ran, unplug_run.stats["sim0"]
    assert sum(s["frames"] for s in unplug_run.stats.values()) == FRAMES, unplug_run.stats
