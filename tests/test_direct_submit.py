"""Engine.submit_nowait (any thread, a callback per frame, no task or future) and the
lossless Pipeline streams built on it: their source threads submit frames themselves."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest

from streamcore import DecodeError, Engine, EngineClosedError, InputError, Pipeline, Result
from streamcore.pipeline.window import Window
from tests.media import pattern
from tests.pipeline_helpers import collect

Outcome = Tuple[int, Optional[Result], Optional[BaseException], int]


async def test_submit_nowait_from_a_thread_calls_back_on_the_loop_with_infers_outputs(tiny_model: Path) -> None:
    frames = [pattern(i, 64, 48) for i in range(24)]
    loop_thread = threading.get_ident()
    async with Engine(tiny_model, devices="cpu:2") as engine:
        outcomes: List[Outcome] = []
        done = asyncio.Event()

        def on_done(i: int, result: Optional[Result], error: Optional[BaseException]) -> None:
            outcomes.append((i, result, error, threading.get_ident()))
            if len(outcomes) == len(frames):
                done.set()

        def submit_all() -> None:
            for i, frame in enumerate(frames):
                engine.submit_nowait(frame, functools.partial(on_done, i))

        worker = threading.Thread(target=submit_all, name="test-submitter")
        worker.start()
        await asyncio.wait_for(done.wait(), 60)
        worker.join()
        expected = [await engine.infer(f) for f in frames]
        assert engine.inflight == 0
    assert sorted(i for i, *_ in outcomes) == list(range(len(frames)))
    assert all(thread == loop_thread for *_, thread in outcomes)
    for i, result, error, _ in outcomes:
        assert error is None and result is not None
        np.testing.assert_array_equal(result.outputs[0], expected[i].outputs[0])


async def test_submit_nowait_refuses_bad_frames_and_closed_engines_at_the_call(tiny_model: Path) -> None:
    engine = Engine(tiny_model, devices="cpu:1")
    with pytest.raises(EngineClosedError, match="not started"):
        engine.submit_nowait(pattern(0, 64, 48), lambda r, e: None)
    async with engine:
        with pytest.raises(InputError):
            engine.submit_nowait(np.zeros((4, 4, 2), np.uint8), lambda r, e: None)
        with pytest.raises(InputError, match="callable"):
            engine.submit_nowait(pattern(0, 64, 48), None)  # type: ignore[arg-type]
        assert engine.inflight == 0  # nothing left behind by the refused frame
    with pytest.raises(EngineClosedError, match="closed"):
        engine.submit_nowait(pattern(0, 64, 48), lambda r, e: None)


async def test_frame_submitter_checks_once_and_refuses_a_closed_engine_per_frame(tiny_model: Path) -> None:
    """What Pipeline streams submit with: submit_nowait's checks made once; the engine's state
    is still checked at every frame."""
    async with Engine(tiny_model, devices="cpu:1") as engine:
        submit = engine.frame_submitter()
        with pytest.raises(InputError, match="no model named"):
            engine.frame_submitter("other")
        got: List[Tuple[Optional[Result], Optional[BaseException]]] = []
        done = asyncio.Event()

        def on_done(result: Optional[Result], error: Optional[BaseException]) -> None:
            got.append((result, error))
            done.set()

        submit(pattern(0, 64, 48), on_done)
        await asyncio.wait_for(done.wait(), 30)
        assert got[0][1] is None and got[0][0] is not None
    with pytest.raises(EngineClosedError, match="closed"):
        submit(pattern(0, 64, 48), on_done)


async def test_frames_pending_at_close_are_called_back_once_with_engine_closed(tiny_model: Path) -> None:
    calls: List[Tuple[int, Optional[Result], Optional[BaseException]]] = []
    async with Engine(tiny_model, devices="cpu:1") as engine:
        def record(i: int, result: Optional[Result], error: Optional[BaseException]) -> None:
            calls.append((i, result, error))

        for i in range(200):
            engine.submit_nowait(pattern(i, 640, 480), functools.partial(record, i))
    assert sorted(i for i, _, _ in calls) == list(range(200))  # each exactly once
    for _, result, error in calls:
        assert (result is None) != (error is None)
        assert error is None or isinstance(error, EngineClosedError)


def test_window_resumes_a_blocked_source_once_half_is_free() -> None:
    window = Window(4)
    stopping = threading.Event()
    for _ in range(4):
        assert window.acquire_blocking(stopping)
    got = threading.Event()
    def take() -> None:
        if window.acquire_blocking(stopping):
            got.set()

    waiter = threading.Thread(target=take, name="test-window")
    waiter.start()
    window.release()  # one free slot: a blocked source keeps waiting for a burst's worth
    assert not got.wait(0.3)
    window.release()
    assert got.wait(30)
    waiter.join()
    stopping.set()
    assert not window.acquire_blocking(stopping)  # stopping wins over a free slot


async def test_a_lossless_stream_submits_from_its_thread_and_a_slow_reader_gets_every_record_in_order(
    tiny_model: Path,
) -> None:
    frames: List[Any] = [pattern(i, 64, 48) for i in range(40)]
    frames[17] = "not a frame"
    async with Pipeline(model=tiny_model, devices="cpu:2", buffer=1, max_inflight=3, live_queue=1) as p:
        cam = p.add_source(frames, name="cam")
        assert cam._direct is not None and not cam._tasks  # no dispatch task, no per-frame task
        records = []
        async for r in cam.results():
            records.append(r)
            if len(records) % 5 == 0:
                await asyncio.sleep(0.01)  # the reader falls behind: delivery waits for room
        stats = cam.stats()
    assert [r.kind for r in records] == ["result"] * 17 + ["error"] + ["result"] * 22 + ["end"]
    assert [r.index for r in records[:-1]] == list(range(40))
    assert isinstance(records[17].error, InputError)
    assert records[-1].index == 40 and records[-1].error is None
    assert stats["frames"] == 40 and stats["results"] == 39 and stats["errors"] == 1


async def test_live_sync_streams_submit_directly_and_async_iterables_keep_the_loop_path(tiny_model: Path) -> None:
    async def agen() -> Any:
        for i in range(3):
            yield pattern(i, 64, 48)

    async with Pipeline(model=tiny_model, devices="cpu:1") as p:
        live = p.add_source(iter([pattern(i, 64, 48) for i in range(3)]), name="live", live=True)
        aio = p.add_source(agen(), name="aio")
        assert live._live_direct and not live._tasks  # no dispatch task, no per-frame task
        assert aio._direct is None
        for stream in (live, aio):
            assert [r.kind for r in [r async for r in stream.results()]] == ["result"] * 3 + ["end"]


def _paced(frames: List[Any], per_second: float) -> Any:
    start = time.monotonic()
    for i, f in enumerate(frames):
        delay = start + i / per_second - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield f


async def test_a_live_stream_submitting_directly_drops_the_oldest_and_keeps_records_in_place(
    tiny_model: Path,
) -> None:
    frames: List[Any] = [pattern(i, 64, 48) for i in range(120)]
    frames[0] = "not a frame"  # refused at the submit (a slot is free at the start): frame 0's error
    async with Pipeline(model=tiny_model, devices="cpu:1", buffer=1, max_inflight=1, live_queue=2) as p:
        cam = p.add_source(_paced(frames, 400.0), name="cam", live=True)
        assert cam._live_direct
        records = []
        async for r in cam.results():
            records.append(r)
            await asyncio.sleep(0.01)  # a slow reader: slots free only as records are delivered
        stats = cam.stats()
    kinds = [r.kind for r in records]
    assert kinds[-1] == "end" and records[-1].error is None and records[-1].index == 120
    frame_records = records[:-1]
    indices = [r.index for r in frame_records if r.index is not None]
    assert len(indices) == len(frame_records) and indices == sorted(set(indices))  # in order, none twice
    assert stats["dropped"] > 0, "a reader this slow must make the live queue overflow"
    assert stats["frames"] == 120 == len(frame_records) + stats["dropped"]
    assert indices[-1] == 119, "a live stream keeps the newest frames"
    errors = [r for r in frame_records if r.kind == "error"]
    assert [r.index for r in errors] == [0] and isinstance(errors[0].error, InputError)
    assert stats["errors"] == len(errors) and stats["results"] == len(frame_records) - len(errors)


async def test_a_live_streams_packet_error_keeps_its_place_behind_waiting_frames(tiny_model: Path) -> None:
    holder: Dict[str, Any] = {}
    known = threading.Event()

    def frames() -> Any:  # on the source thread, as AvSource reports a skipped packet
        for i in range(10):
            if i == 5:
                assert known.wait(30)  # the thread may get here before add_source returns
                holder["stream"]._sink.error(DecodeError("packet 5 was corrupt"))
            yield pattern(i, 64, 48)

    async with Pipeline(model=tiny_model, devices="cpu:1", max_inflight=2, live_queue=16) as p:
        holder["stream"] = cam = p.add_source(frames(), name="cam", live=True)
        known.set()
        records = [r async for r in cam.results()]
        stats = cam.stats()
    assert [r.kind for r in records] == ["result"] * 5 + ["error"] + ["result"] * 5 + ["end"]
    assert records[-1].error is None
    assert [r.index for r in records] == [0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10]
    assert stats["packet_errors"] == 1 and stats["dropped"] == 0 and stats["frames"] == 10


async def test_a_live_stream_closed_with_frames_waiting_ends_once(tiny_model: Path) -> None:
    frames = [pattern(i % 7, 64, 48) for i in range(10_000)]
    async with Pipeline(model=tiny_model, devices="cpu:1", max_inflight=1, live_queue=2) as p:
        cam = p.add_source(iter(frames), name="cam", live=True)
        got_one = asyncio.Event()
        records: List[Any] = []

        async def read() -> None:
            async for r in cam.results():
                records.append(r)
                got_one.set()

        reader = asyncio.ensure_future(read())
        await asyncio.wait_for(got_one.wait(), 30)
        await p.remove_source(cam)  # frames are still arriving, waiting and in flight
        await asyncio.wait_for(reader, 30)
        assert cam.ended and cam.state == "ended"
        stats = cam.stats()
    assert [r.kind for r in records].count("end") == 1 and records[-1].kind == "end"
    assert records[0].ok and stats["results"] >= 1
    assert stats["frames"] >= stats["results"] + stats["dropped"]


async def test_an_adapter_failing_on_one_frame_is_that_frames_error_record(tiny_model: Path) -> None:
    seen = {"n": 0}

    def flaky(result: Result) -> Any:
        seen["n"] += 1
        if seen["n"] == 3:
            raise ValueError("odd output")
        return int(np.argmax(result.outputs[0]))

    async with Pipeline(model=tiny_model, devices="cpu:1", adapter=flaky, max_inflight=1) as p:
        records = [r async for r in p.add_source([pattern(i, 64, 48) for i in range(6)], name="cam").results()]
    assert [r.kind for r in records] == ["result", "result", "error", "result", "result", "result", "end"]
    assert "odd output" in str(records[2].error)


async def test_a_callback_that_raises_does_not_strand_the_others(tiny_model: Path, caplog: Any) -> None:
    got: List[int] = []
    done = asyncio.Event()

    def on_done(i: int, result: Optional[Result], error: Optional[BaseException]) -> None:
        got.append(i)
        if len(got) == 12:
            done.set()
        if i % 3 == 0:
            raise RuntimeError("a bug in the caller's callback")

    async with Engine(tiny_model, devices="cpu:2") as engine:
        for i in range(12):
            engine.submit_nowait(pattern(i, 64, 48), functools.partial(on_done, i))
        await asyncio.wait_for(done.wait(), 60)
    assert sorted(got) == list(range(12))
    assert "callback raised" in caplog.text


async def test_a_stream_reader_started_with_the_completions_still_gets_every_record(tiny_model: Path) -> None:
    frames = [pattern(i, 64, 48) for i in range(6)]
    async with Pipeline(model=tiny_model, devices="cpu:1") as p:
        everything = asyncio.ensure_future(collect(p))
        await asyncio.sleep(0)  # the pipeline-wide reader subscribes first
        cam = p.add_source(frames, name="cam")
        time.sleep(0.5)  # the loop is busy while frames complete: their completions queue up
        mine = asyncio.ensure_future(_records(cam))  # subscribes in the iteration that runs them
        own, hub = await mine, await everything
    assert [r.index for r in own if r.ok] == list(range(6)) and own[-1].kind == "end"
    assert [r.index for r in hub["cam"] if r.ok] == list(range(6))


async def _records(stream: Any) -> List[Any]:
    return [r async for r in stream.results()]


async def test_live_streams_racing_their_loop_keep_every_count_and_order(tiny_model: Path) -> None:
    """Four bursty live sources dispatching from their threads while the loop frees slots
    as a jittery reader takes records: every frame ends as a result or a drop, once."""
    pictures = [pattern(i, 64, 48) for i in range(8)]
    n = 1500

    def frames() -> Any:
        for i in range(n):
            if i % 4 == 0:
                time.sleep(0.001)  # bursts of 4: some wait, some go at once, some are dropped
            yield pictures[i % 8]

    async with Pipeline(model=tiny_model, devices="cpu:2", buffer=4, max_inflight=2, live_queue=1) as p:
        cams = [p.add_source(frames(), name=f"cam{i}", live=True) for i in range(4)]
        assert all(c._live_direct for c in cams)
        records: Dict[str, List[Any]] = {c.name: [] for c in cams}
        k = 0
        async for r in p.results():
            records[r.stream].append(r)
            k += 1
            if k % 50 == 0:
                await asyncio.sleep(0.002)
        stats = {c.name: c.stats() for c in cams}
    assert sum(s["dropped"] for s in stats.values()) > 0, "bursts of 4 past 2 slots and 1 waiting must drop"
    for name, recs in records.items():
        assert recs[-1].kind == "end" and recs[-1].error is None and recs[-1].index == n
        body = recs[:-1]
        assert all(r.ok for r in body)
        indices = [r.index for r in body if r.index is not None]
        assert len(indices) == len(body) and indices == sorted(set(indices))
        s = stats[name]
        assert s["frames"] == n == s["results"] + s["dropped"] and s["results"] == len(body)
        assert indices[-1] == n - 1


@pytest.mark.parametrize("live", [False, True])
async def test_a_reader_that_never_waits_still_gets_every_end_record(tiny_model: Path, live: bool) -> None:
    """A stream ends when its end record is taken in order, and a full reader makes room for it
    later: a reader that drains its queue without awaiting must not see every stream ended and
    stop before the end records are in."""
    pictures = [pattern(i, 64, 48) for i in range(8)]
    for attempt in range(5):
        async with Pipeline(model=tiny_model, devices="cpu:2", buffer=1, coalesce_ms=50) as p:
            for c in range(3):
                p.add_source([pictures[i % 8] for i in range(40)], name=f"cam{c}", live=live)
            records: Dict[str, List[Any]] = {f"cam{c}": [] for c in range(3)}
            async for r in p.results():  # no await in the body: the queue is drained at once
                records[r.stream].append(r)
        for name, recs in records.items():
            assert recs and recs[-1].kind == "end", (attempt, name, [r.kind for r in recs[-3:]])
            assert sum(r.kind == "end" for r in recs) == 1
