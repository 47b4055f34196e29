"""Pipeline on files and iterables: accounting, order, backpressure, sampling, pacing, API."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Iterator, List, Tuple

import av
import numpy as np
from numpy.typing import NDArray
import pytest

import streamcore
from streamcore import Classify, Detect, InputError, Pipeline, SourceError, SourceNotFoundError, models

from tests.media import count_frames, make_clip, pattern
from tests.pipeline_helpers import assert_in_order, collect, end_of, open_pipeline_or_skip, ticker_lags
from tests.reference import needs_tflite


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> List[Path]:
    folder = tmp_path_factory.mktemp("clips")
    sizes = [(160, 120), (192, 108), (128, 96), (176, 144)]
    return [make_clip(folder / f"clip{i}.mp4", frames=24 + 6 * i, size=s, start_index=i * 100)
            for i, s in enumerate(sizes)]


@pytest.fixture(scope="module")
def mobilenet() -> Path:
    """MobileNet V2's cost (synthetic weights): frame rates like the real job's."""
    return models.cached_path("mobilenet_v2", models.mobilenet_v2)


@pytest.fixture(scope="module")
def vga_clips(tmp_path_factory: pytest.TempPathFactory) -> List[Path]:
    folder = tmp_path_factory.mktemp("vga")
    return [make_clip(folder / f"cam{i}.mp4", frames=60 + 4 * i, size=(320, 240), start_index=i * 50)
            for i in range(4)]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.write(models.tiny_classifier((32, 32, 3), 10), tmp_path_factory.mktemp("m") / "tiny.tflite")


async def run_four_files(model: Path, clips: List[Path], devices: str) -> None:
    p = await open_pipeline_or_skip(model, devices, adapter=Classify(top_k=1))
    async with p:
        for clip in clips:
            p.add_source(clip)
        stop = asyncio.Event()
        probe = asyncio.ensure_future(ticker_lags(stop))
        records = await collect(p)
        stop.set()
        lags = await probe
        stats = p.stats()
    assert sorted(records) == sorted(c.stem for c in clips)
    for clip in clips:
        got = records[clip.stem]
        assert_in_order(got)
        assert end_of(got).error is None
        results = [r for r in got if r.ok]
        # every frame of the file is accounted for: here, every one has a result
        assert [r.index for r in results] == list(range(count_frames(clip)))
        assert all(isinstance(r.value, list) and len(r.value) == 1 for r in results)
        s = stats["streams"][clip.stem]
        assert s["frames"] == s["results"] + s["dropped"] + s["sampled_out"] + s["errors"] == len(results)
    used = {r.device for rs in records.values() for r in rs if r.ok}
    assert len(used) > 1, "frames were not spread over the devices"
    # The lag is measured and reported; its size is a benchmark figure (benchmarks/pipeline.py),
    # never a test bound on a shared 2-core machine.
    assert len(lags) > 0 and all(np.isfinite(lags))
    assert 0 <= stats["loop_lag"]["p50_ms"] <= stats["loop_lag"]["p99_ms"]


async def test_four_files_on_cpu2_every_frame_in_order(mobilenet: Path, vga_clips: List[Path]) -> None:
    await run_four_files(mobilenet, vga_clips, "cpu:2")


@pytest.fixture(scope="module")
def long_vga_clips(tmp_path_factory: pytest.TempPathFactory) -> List[Path]:
    """sim:4 runs ~600 fps: long enough clips that the lag percentiles describe the run,
    not the first few milliseconds of four decoders opening."""
    folder = tmp_path_factory.mktemp("vga-long")
    return [make_clip(folder / f"cam{i}.mp4", frames=300 + 4 * i, size=(320, 240), start_index=i * 50)
            for i in range(4)]


@needs_tflite
async def test_four_files_on_sim4(tmp_path: Path, long_vga_clips: List[Path]) -> None:
    from tests.edgetpu_model import edgetpu_model

    compiled = models.write(edgetpu_model(224, 224, (1001,)), tmp_path / "m_edgetpu.tflite")
    await run_four_files(compiled, long_vga_clips, "sim:4")


async def test_result_fields_and_frames_kept(model: Path, clips: List[Path]) -> None:
    async with Pipeline(model=model, devices="cpu:1", adapter=Classify(top_k=2), keep_frames=True) as p:
        cam = p.add_source(clips[0], name="door")
        records = [r async for r in cam.results()]
    first = records[0]
    assert first.stream == "door" and first.index == 0 and first.pts == 0 and first.time == 0.0
    assert isinstance(first.frame, av.VideoFrame) and (first.frame.width, first.frame.height) == (160, 120)
    assert first.outputs[0].shape == (1, 10) and first.device == "cpu0"
    assert first.latency_ms is not None and first.latency_ms > 0 and first.captured_at is not None
    assert records[1].time == pytest.approx(0.1)
    d = first.to_dict()
    assert d["stream"] == "door" and d["kind"] == "result" and len(d["value"]) == 2 and "id" in d["value"][0]
    assert cam.ended and cam.state == "ended" and records[-1].to_dict()["kind"] == "end"


async def test_stream_results_and_pipeline_results_together(model: Path, clips: List[Path]) -> None:
    async with Pipeline(model=model, devices="cpu:2") as p:
        a = p.add_source(clips[0], name="a")
        b = p.add_source(clips[1], name="b")
        everything, only_a = await asyncio.gather(collect(p), _drain(a))
    assert [r.index for r in only_a if r.ok] == list(range(count_frames(clips[0])))
    assert [r.index for r in everything["a"] if r.ok] == [r.index for r in only_a if r.ok]
    assert len([r for r in everything["b"] if r.ok]) == count_frames(clips[1])


async def _drain(stream: streamcore.Stream) -> List[streamcore.StreamResult]:
    return [r async for r in stream.results()]


async def test_sources_added_and_removed_while_running(model: Path, clips: List[Path]) -> None:
    async with Pipeline(model=model, devices="cpu:2") as p:
        slow = p.add_source(clips[3], name="slow", realtime=True)  # 4 s at its own rate
        seen: Dict[str, int] = {}
        async for r in p.results():
            seen[r.stream] = seen.get(r.stream, 0) + r.ok
            if r.stream == "slow" and r.index == 2 and "late" not in p.streams:
                p.add_source(clips[0], name="late")
            if r.stream == "late" and r.kind == "end":
                await p.remove_source("slow")
        assert "slow" not in p.streams and p.streams["late"].ended
    assert seen["late"] == count_frames(clips[0])
    assert 3 <= seen["slow"] < count_frames(clips[3])
    assert slow.ended and slow.state == "ended"


async def test_files_are_lossless_with_backpressure(model: Path, clips: List[Path]) -> None:
    async with Pipeline(model=model, devices="cpu:1", buffer=4, max_inflight=2, live_queue=2) as p:
        cam = p.add_source(clips[3])
        await asyncio.sleep(0.5)  # nobody reads: the decoder must wait
        held = cam.frames
        assert held <= 2 + 2 + 4 + 1, f"the decoder ran {held} frames ahead of the reader"
        records = [r async for r in cam.results()]
    assert [r.index for r in records if r.ok] == list(range(count_frames(clips[3])))


async def test_live_iterable_drops_the_oldest_and_counts_it(model: Path) -> None:
    frames = [pattern(i, 64, 48) for i in range(60)]
    async with Pipeline(model=model, devices="cpu:1", buffer=2, max_inflight=1, live_queue=2) as p:
        cam = p.add_source(iter(frames), name="cam", live=True)
        await asyncio.sleep(0.5)  # the reader is late: the live queue overflows
        records = [r async for r in cam.results()]
        stats = p.stats()["streams"]["cam"]
    results = [r for r in records if r.ok]
    assert stats["dropped"] > 0 and stats["frames"] == 60
    assert len(results) + stats["dropped"] == 60
    assert_in_order(records)
    assert results[-1].index == 59, "a live stream must keep the newest frames"


async def test_fps_cap_samples_before_inference(model: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=40, fps=20)  # 2 s
    async with Pipeline(model=model, devices="cpu:1") as p:
        cam = p.add_source(clip, fps=5)
        records = [r async for r in cam.results()]
        stats = cam.stats()
    results = [r for r in records if r.ok]
    assert len(results) == 10 and [r.index for r in results] == list(range(0, 40, 4))
    assert stats["sampled_out"] == 30 and stats["frames"] == 40


async def test_realtime_paces_a_file(model: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=12, fps=20)  # 0.6 s
    async with Pipeline(model=model, devices="cpu:1") as p:
        start = time.monotonic()
        fast = [r async for r in p.add_source(clip, name="fast").results()]
        fast_s = time.monotonic() - start
        start = time.monotonic()
        paced = [r async for r in p.add_source(clip, name="paced", realtime=True).results()]
        paced_s = time.monotonic() - start
    assert len(fast) == len(paced) == 13
    assert paced_s >= 0.5 and paced_s > fast_s


async def test_sync_and_async_iterables(model: Path) -> None:
    frames = [pattern(i, 64, 48) for i in range(10)]

    async def agen() -> AsyncIterator["NDArray[np.uint8]"]:
        for f in frames:
            await asyncio.sleep(0)
            yield f

    async with Pipeline(model=model, devices="cpu:2") as p:
        p.add_source(frames, name="list")
        p.add_source(agen(), name="agen")
        records = await collect(p)
    for name in ("list", "agen"):
        assert [r.index for r in records[name] if r.ok] == list(range(10))
        assert end_of(records[name]).error is None


async def test_failing_iterator_ends_with_a_source_error(model: Path) -> None:
    def frames() -> Iterator["NDArray[np.uint8]"]:
        yield pattern(0, 64, 48)
        raise RuntimeError("camera unplugged")

    async with Pipeline(model=model, devices="cpu:1") as p:
        records = [r async for r in p.add_source(frames(), name="bad").results()]
    assert [r.kind for r in records] == ["result", "end"]
    assert isinstance(records[-1].error, SourceError) and "camera unplugged" in str(records[-1].error)


async def test_bad_frames_become_error_records_and_the_stream_goes_on(model: Path) -> None:
    frames: List[Any] = [pattern(0, 64, 48), np.zeros((4, 4, 2), np.uint8), "not a frame", pattern(1, 64, 48)]
    async with Pipeline(model=model, devices="cpu:1") as p:
        records = [r async for r in p.add_source(frames, name="mixed").results()]
    assert [r.kind for r in records] == ["result", "error", "error", "result", "end"]
    assert all(isinstance(r.error, InputError) for r in records if r.kind == "error")


async def test_detection_results_in_frame_coordinates(tmp_path: Path, clips: List[Path]) -> None:
    detector = models.write(models.tiny_detector((48, 48)), tmp_path / "det.tflite")
    async with Pipeline(model=detector, devices="cpu:1", adapter=Detect(threshold=0.0)) as p:
        records = [r async for r in p.add_source(clips[0]).results()]
    objects = [o for r in records if r.ok for o in r.value]
    assert objects, "the tiny detector found nothing"
    assert all(-1 <= o.bbox.xmin <= o.bbox.xmax <= 161 and -1 <= o.bbox.ymin <= o.bbox.ymax <= 121 for o in objects)


async def test_stats_names_and_devices(model: Path, clips: List[Path]) -> None:
    async with Pipeline(model=model, devices="cpu:2") as p:
        await collect_one(p, clips[2])
        stats = p.stats()
    s = stats["streams"]["clip2"]
    for key in ("camera_fps", "process_fps", "skipped_fps", "detection_fps", "inference_speed",
                "latency_p50_ms", "latency_p99_ms", "reconnects", "state"):
        assert key in s
    assert s["camera_fps"] > 0 and s["latency_p99_ms"] >= s["latency_p50_ms"] > 0
    assert set(stats["devices"]) == {"cpu0", "cpu1"}
    for d in stats["devices"].values():
        assert d["inference_speed"] > 0 and 0 < d["busy"] <= 1


async def collect_one(p: Pipeline, clip: Path) -> None:
    [r async for r in p.add_source(clip).results()]


async def test_add_source_errors(model: Path, tmp_path: Path) -> None:
    async with Pipeline(model=model, devices="cpu:1") as p:
        with pytest.raises(SourceNotFoundError, match="no such file"):
            p.add_source(tmp_path / "missing.mp4")
        with pytest.raises(InputError, match="cannot read frames"):
            p.add_source(42)
        p.add_source([pattern(0, 8, 8)], name="x")
        with pytest.raises(InputError, match="exists"):
            p.add_source([pattern(0, 8, 8)], name="x")
    with pytest.raises(streamcore.EngineClosedError):
        p.add_source([pattern(0, 8, 8)])
    with pytest.raises(InputError):
        Pipeline()


def test_run_uses_uvloop_when_installed(model: Path, clips: List[Path]) -> None:
    uvloop = pytest.importorskip("uvloop")

    async def main() -> int:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        async with Pipeline(model=model, devices="cpu:2") as p:
            records = [r async for r in p.add_source(clips[0]).results()]
        return sum(r.ok for r in records)

    assert streamcore.run(main()) == count_frames(clips[0])
    assert streamcore.run(asyncio.sleep(0, 7), use_uvloop=False) == 7


async def test_an_existing_engine_and_close_ends_every_reader(model: Path, clips: List[Path]) -> None:
    async with streamcore.Engine(model, devices="cpu:2") as engine:
        p = Pipeline(engine=engine)
        await p.start()
        endless = (pattern(i % 5, 64, 48) for i in range(10**9))
        cam = p.add_source(endless, name="endless", live=True)
        everything = asyncio.ensure_future(collect(p))
        mine = asyncio.ensure_future(_drain(cam))
        while cam.results_count < 5:
            await asyncio.sleep(0.01)
        await p.close()
        records, own = await asyncio.wait_for(asyncio.gather(everything, mine), 5)
        assert not engine.closed, "the pipeline closed an engine it did not create"
        assert (await engine.infer(pattern(0, 64, 48))).outputs
    assert own[-1].kind == "end" and own[-1].error is None and len(own) > 5
    assert records["endless"][-1].kind == "end"
    with pytest.raises(InputError, match="either engine"):
        Pipeline(model=model, engine=engine)


async def test_a_stream_is_an_async_context_manager(model: Path, clips: List[Path]) -> None:
    async with Pipeline(model=model, devices="cpu:1", adapter=Classify(top_k=1)) as p:
        async with p.add_source(clips[0], name="door") as cam:
            first = await cam.results().__anext__()
            assert first.stream == "door"
        assert cam.ended  # leaving the block closed it


def _frames_recording_policy(seen: List[Tuple[int, int]], count: int) -> Iterator[NDArray[np.uint8]]:
    """Frames from the decode thread, noting its scheduling policy and nice level."""
    for _ in range(count):
        seen.append((os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        yield np.zeros((48, 64, 3), np.uint8)


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
async def test_decoder_idle_runs_source_threads_under_sched_idle(model: Path) -> None:
    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    for idle, policy in ((True, os.SCHED_IDLE), (False, os.SCHED_OTHER)):
        seen: List[Tuple[int, int]] = []
        async with Pipeline(model=model, devices="cpu:1", decoder_idle=idle, decoder_nice=3) as p:
            p.add_source(_frames_recording_policy(seen, 5), name="policy")
            records = [r async for r in p.results()]
        assert [r.kind for r in records] == ["result"] * 5 + ["end"]
        assert {s[0] for s in seen} == {policy}
        if not idle:  # the nice steps apply to the default policy only
            assert {s[1] for s in seen} == {min(19, loop_nice + 3)}
    # the loop's own thread is untouched
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_decoder_idle_takes_only_a_bool(model: Path) -> None:
    with pytest.raises(InputError, match="decoder_idle='yes'; pass True"):
        Pipeline(model=model, devices="cpu:1", decoder_idle="yes")  # type: ignore[arg-type]
