"""One conformance suite for the CPU backends (tflite, litert, openvino): the published
answers of the real models, zero-copy outputs, bad models, cancel and close, and one or
several devices per engine. Then the registry's bad-input paths: unknown specs, devices
that are not there, ``cpu`` resolution, environment reports, and a missing runtime."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
from pathlib import Path
from typing import Any, Callable, List, Optional

import av
import numpy as np
import pytest
from numpy.typing import NDArray

import streamcore
import streamcore.backends.litert
from streamcore import Classify, Detect, Engine, EngineClosedError, ModelError, Result, models, read_labels
from streamcore.backends import registry
from streamcore.errors import BackendUnavailableError, DeviceNotFoundError, DeviceSpecError, InputError
from streamcore.sources.images import load_image
from tests.media import video_frame

CPU_BACKENDS = ["tflite", "litert", "openvino"]


def cpu_spec(backend: str, count: Optional[int]) -> str:
    """The backend's own spec for `count` CPU devices (None: the form without a count)."""
    if backend == "openvino":
        return "openvino:CPU" if count is None else f"openvino:CPU:{count}"
    return f"{backend}:cpu" if count is None else f"{backend}:cpu:{count}"


@pytest.fixture(params=CPU_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    why = registry.get(name).unavailable()
    if why is not None:
        pytest.skip(why)
    return name


def frames(n: int, h: int = 48, w: int = 64, seed: int = 0) -> List[NDArray[Any]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


async def classify(data: Path, devices: str, model: str, labels: str, image: str) -> List[Any]:
    adapter = Classify(top_k=3, labels=read_labels(data / "models" / labels))
    async with Engine(data / "models" / model, devices=devices, adapter=adapter) as engine:
        result = await engine.infer(load_image(data / "images" / image))
        assert {s["backend"] for s in engine.stats()} == {devices.split(":")[0]}
    return list(result.value)


# -- accuracy: the checks and expected answers of test_accuracy.py, on each backend ------


async def test_parrot_is_a_scarlet_macaw(backend: str, shared_data: Path) -> None:
    top = await classify(shared_data, cpu_spec(backend, 1), "mobilenet_v2_1.0_224_inat_bird_quant.tflite",
                         "inat_bird_labels.txt", "parrot.jpg")
    assert top[0].id == 923 and top[0].label == "Ara macao (Scarlet Macaw)"
    assert 0.6 <= top[0].score <= 0.9


async def test_cat_is_an_egyptian_cat(backend: str, shared_data: Path) -> None:
    top = await classify(shared_data, cpu_spec(backend, 1), "mobilenet_v2_1.0_224_quant.tflite",
                         "imagenet_labels.txt", "cat_720p.jpg")
    assert top[0].id == 286 and top[0].label == "Egyptian cat" and top[0].score > 0.7


async def test_ssd_finds_the_person_in_frame_100(backend: str, shared_data: Path) -> None:
    frame = video_frame(shared_data / "videos" / "one-by-one-person-detection.mp4", 100)
    adapter = Detect(threshold=0.5, labels=read_labels(shared_data / "models" / "coco_labels.txt"))
    model = shared_data / "models" / "ssd_mobilenet_v1_coco_quant_postprocess.tflite"
    async with Engine(model, devices=cpu_spec(backend, 1), adapter=adapter) as engine:
        objects = (await engine.infer(frame)).value
    people = [o for o in objects if o.label == "person"]
    assert len(people) == 1, objects
    person = people[0]
    assert 0.55 <= person.score <= 0.8
    w, h = frame.width, frame.height
    expected = (0.50 * w, 0.03 * h, 0.66 * w, 0.90 * h)
    got = (person.bbox.xmin, person.bbox.ymin, person.bbox.xmax, person.bbox.ymax)
    assert all(abs(g - e) < 0.04 * max(w, h) for g, e in zip(got, expected)), got


async def test_traffic_frames_two_cars(backend: str, shared_data: Path) -> None:
    frame = video_frame(shared_data / "videos" / "traffic_frames.mp4", 0)
    labels = read_labels(shared_data / "models" / "coco_labels.txt")
    model = shared_data / "models" / "ssd_mobilenet_v1_coco_quant_postprocess.tflite"
    async with Engine(model, devices=cpu_spec(backend, 1), adapter=Detect(threshold=0.5, labels=labels)) as engine:
        objects = (await engine.infer(frame)).value
    assert [o.label for o in objects] == ["car", "car"]


# -- zero-copy outputs -----------------------------------------------------------------


def _built(backend: str, model: Path) -> Any:
    """A native device of `backend` for `model`, built the way an engine builds it."""
    b = registry.get(backend)
    spec = cpu_spec(backend, 1)
    placement = b.place(registry.parse_devices(spec), None)[0]
    return b.build(streamcore.Model(model), placement, None)


@pytest.mark.parametrize("model_name", ["mobilenet_v2_1.0_224_quant.tflite", "ssd_mobilenet_v1_coco_quant_postprocess.tflite"])
def test_outputs_land_in_the_callers_block_at_their_spans(backend: str, shared_data: Path, model_name: str) -> None:
    """invoke(block) leaves every output in the block given, at its span, and writes nothing
    else there: the block is the numpy-visible memory of a Result."""
    built = _built(backend, shared_data / "models" / model_name)
    native = built.native
    size = (native.output_bytes + 63) // 64 * 64 + 64
    raw = np.full(size + 64, 0xEE, np.uint8)
    start = (-raw.ctypes.data) % 64
    block = raw[start:start + size]  # 64-byte aligned, as the output pool's blocks are
    native.invoke_into(block)
    from streamcore.backends.base import output_layout

    covered = np.zeros(size, bool)
    for info, (_, _, offset, nbytes) in zip(built.outputs, output_layout(built.outputs)):
        covered[offset:offset + nbytes] = True
        view = block[offset:offset + nbytes].view(info.dtype).reshape(info.shape)
        if info.dtype == np.uint8:  # a softmax quantized at 1/256: it sums to at most ~1 (rounding loses some)
            assert 50 <= int(view.sum(dtype=np.int64)) <= 300
        else:  # the SSD's boxes, classes, scores and count are finite floats
            assert np.all(np.isfinite(view))
    assert np.all(block[~covered] == 0xEE), "the device wrote outside its output spans"
    if backend == "openvino" and "ssd" not in model_name:  # SSDs are decoded natively into the block
        from streamcore._native import core

        assert core.openvino_outputs_zero_copy(native, block.ctypes.data), "OpenVINO copied its outputs"


async def test_outputs_outlive_more_inferences_and_the_engine(backend: str, tiny_model: Path) -> None:
    async with Engine(tiny_model, devices=cpu_spec(backend, 2), queue_depth=1) as engine:
        first = await engine.infer(frames(1, seed=1)[0])
        saved = [a.copy() for a in first.outputs]
        assert not first.outputs[0].flags.owndata  # a view over the native block
        others = [await engine.infer(f) for f in frames(40, seed=2)]
        assert any(not np.array_equal(o.outputs[0], saved[0]) for o in others)
        for got, want in zip(first.outputs, saved):
            np.testing.assert_array_equal(got, want)
    del others
    gc.collect()
    for got, want in zip(first.outputs, saved):
        np.testing.assert_array_equal(got, want)
    array = first.outputs[0]
    del first
    gc.collect()
    np.testing.assert_array_equal(array, saved[0])


# -- bad models ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(lambda: (lambda d: d[: len(d) // 2])(models.mobilenet_v2()), id="truncated-half"),
        pytest.param(lambda: models.mobilenet_v2()[:5000], id="truncated-5000"),
        pytest.param(lambda: b"garbage" * 100, id="garbage"),
        pytest.param(lambda: b"\x1c\x00\x00\x00TFL3" + b"\xff" * 200, id="bad-header"),
    ],
)
async def test_bad_model_bytes(backend: str, blob: Callable[[], bytes]) -> None:
    with pytest.raises(ModelError):
        async with Engine(blob(), devices=cpu_spec(backend, 1)):
            pass


async def test_edgetpu_model_is_refused_naming_the_edge_tpu(backend: str, shared_data: Path) -> None:
    model = shared_data / "models" / "mobilenet_v2_1.0_224_quant_edgetpu.tflite"
    with pytest.raises(ModelError, match="Edge TPU"):
        async with Engine(model, devices=cpu_spec(backend, 1)):
            pass


# -- cancel and close ------------------------------------------------------------------


async def test_cancelled_infers_leave_the_engine_working(backend: str, tiny_model: Path) -> None:
    async with Engine(tiny_model, devices=cpu_spec(backend, 1), queue_depth=2) as engine:
        tasks = [asyncio.ensure_future(engine.infer(f)) for f in frames(20)]
        await asyncio.sleep(0)
        for t in tasks[::2]:
            t.cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert sum(isinstance(d, asyncio.CancelledError) for d in done) >= 1
        assert all(isinstance(d, (Result, asyncio.CancelledError)) for d in done), done
        for _ in range(100):
            if engine.inflight == 0:
                break
            await asyncio.sleep(0.01)
        assert engine.inflight == 0
        results = [await engine.infer(f) for f in frames(3, seed=7)]
    assert all(r.outputs[0].shape == (1, 10) for r in results)


async def test_infer_after_close_is_refused(backend: str, tiny_model: Path) -> None:
    engine = Engine(tiny_model, devices=cpu_spec(backend, 1))
    await engine.start()
    await engine.infer(frames(1)[0])
    await engine.close()
    with pytest.raises(EngineClosedError):
        await engine.infer(frames(1)[0])


# -- one and several devices -----------------------------------------------------------


async def test_two_devices_share_the_frames(backend: str, tiny_model: Path) -> None:
    async with Engine(tiny_model, devices=cpu_spec(backend, 2)) as engine:
        assert len(engine.devices) == 2
        results = await asyncio.gather(*(engine.infer(f) for f in frames(40)))
        stats = engine.stats()
    assert {r.device for r in results} == set(engine.devices)
    assert sum(s["frames"] for s in stats) == 40
    assert all(s["frames"] >= 1 and s["backend"] == backend and s["kind"] == "cpu" for s in stats), stats


@pytest.mark.parametrize("count", [1, None])
async def test_one_device(backend: str, tiny_model: Path, count: Optional[int]) -> None:
    async with Engine(tiny_model, devices=cpu_spec(backend, count)) as engine:
        assert len(engine.devices) == 1
        results = await asyncio.gather(*(engine.infer(f) for f in frames(5)))
        stats = engine.stats()
    assert {r.device for r in results} == set(engine.devices)
    assert len(stats) == 1 and stats[0]["backend"] == backend and stats[0]["frames"] == 5


# -- specs and the registry ------------------------------------------------------------


async def test_unknown_spec_lists_the_backends(tiny_model: Path) -> None:
    with pytest.raises(DeviceSpecError) as info:
        async with Engine(tiny_model, devices="foo:1"):
            pass
    assert isinstance(info.value, InputError) and isinstance(info.value, streamcore.DeviceError)
    message = str(info.value)
    assert "'foo:1'" in message
    for b in registry.backends():
        assert b.name in message, message


def test_unknown_backend_name_lists_the_backends() -> None:
    with pytest.raises(DeviceSpecError, match="tflite.*litert.*openvino"):
        registry.get("foo")


async def test_openvino_device_that_is_not_there(tiny_model: Path) -> None:
    why = registry.get("openvino").unavailable()
    if why is not None:
        pytest.skip(why)
    with pytest.raises(DeviceNotFoundError, match="NPU") as info:
        async with Engine(tiny_model, devices="openvino:NPU"):
            pass
    assert "CPU" in str(info.value)  # what exists


async def test_cpu_resolves_to_tflite(tiny_model: Path) -> None:
    why = registry.get("tflite").unavailable()
    if why is not None:
        pytest.skip(why)
    assert registry.preferred_cpu() == "tflite"
    for spec in ("cpu", "cpu:2"):
        async with Engine(tiny_model, devices=spec) as engine:
            await engine.infer(frames(1)[0])
            assert {s["backend"] for s in engine.stats()} == {"tflite"}


@pytest.mark.parametrize("name", [b.name for b in registry.backends()])
def test_environment_is_json(name: str) -> None:
    env = registry.get(name).environment()
    text = json.dumps(env, allow_nan=False)
    assert json.loads(text) == env
    assert env["backend"] == name and isinstance(env["available"], bool)
    assert env["available"] == (registry.get(name).unavailable() is None)
    assert (env["reason"] is None) == env["available"]


async def test_missing_litert_names_the_pip_command(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: Optional[str] = None) -> Any:
        return None if name == "ai_edge_litert" else real(name, package)

    # litert.library_path() looks the package up with importlib.util.find_spec (the same
    # module object as here); only that name is hidden.
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(BackendUnavailableError, match=r"pip install 'ai-edge-litert") as info:
        streamcore.backends.litert.library_path()
    assert isinstance(info.value, RuntimeError)
    why = registry.get("litert").unavailable()
    assert why is not None and "pip install 'ai-edge-litert" in why
    with pytest.raises(BackendUnavailableError, match="ai-edge-litert"):
        async with Engine(tiny_model, devices="litert:cpu:1"):
            pass


async def test_one_engine_shares_a_stream_between_two_backends(shared_data: Path) -> None:
    """litert and openvino devices in one engine (the Python 3.12+ pair): frames go to both,
    and both give the published answer."""
    for name in ("litert", "openvino"):
        if registry.get(name).unavailable():
            pytest.skip(f"{name}: {registry.get(name).unavailable()}")
    labels = read_labels(shared_data / "models" / "imagenet_labels.txt")
    image = load_image(shared_data / "images" / "cat_720p.jpg")
    model = shared_data / "models" / "mobilenet_v2_1.0_224_quant.tflite"
    async with Engine(model, devices="litert:cpu:1,openvino:CPU", adapter=Classify(top_k=1, labels=labels)) as engine:
        results = await asyncio.gather(*[engine.infer(image) for _ in range(12)])
        stats = {s["name"]: s for s in engine.stats()}
    assert {r.device for r in results} == {"litert0", "ov-cpu0"}
    assert all(r.value[0].label == "Egyptian cat" for r in results)
    assert (stats["litert0"]["backend"], stats["ov-cpu0"]["backend"]) == ("litert", "openvino")
    assert stats["litert0"]["frames"] + stats["ov-cpu0"]["frames"] == 12
