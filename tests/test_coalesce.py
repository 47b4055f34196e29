"""Completions taken in batches under a backlog (Engine(coalesce_ms=...)): batches form only
when frames were queued anyway, awaited infers are never held back, nothing is lost or
reordered, and closing with a batch put off delivers every frame once."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import select
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest
from numpy.typing import NDArray

from streamcore import Engine, EngineClosedError, InputError, Pipeline, Result
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


Outcome = Tuple[int, Optional[Result], Optional[BaseException]]


async def submit_backlog(engine: Engine, batch: List[NDArray[Any]]) -> Tuple[List[Outcome], asyncio.Event]:
    """Every frame submitted at once, far more than the devices' queues hold."""
    outcomes: List[Outcome] = []
    done = asyncio.Event()

    def on_done(i: int, result: Optional[Result], error: Optional[BaseException]) -> None:
        outcomes.append((i, result, error))
        if len(outcomes) == len(batch):
            done.set()

    for i, frame in enumerate(batch):
        engine.submit_nowait(frame, functools.partial(on_done, i))
    return outcomes, done


async def run_backlog(tpu_model: bytes, batch: List[NDArray[Any]], coalesce_ms: float) -> Tuple[List[Outcome], Dict[str, Any]]:
    """A backlog run to its end: every frame's outcome, and the completion stats."""
    async with Engine(tpu_model, devices="sim:2@1ms", coalesce_ms=coalesce_ms) as engine:
        outcomes, done = await submit_backlog(engine, batch)
        await asyncio.wait_for(done.wait(), 120)
        return outcomes, engine.completion_stats()


async def until_deferred(engine: Engine) -> Any:
    """The engine's runner once a batch is put off (its drain waiting up to coalesce_ms)."""
    runner = engine._runner(None)
    for _ in range(2000):
        if runner._deferred is not None:
            break
        await asyncio.sleep(0.005)
    assert runner._deferred is not None, engine.completion_stats()
    return runner


@pytest.mark.parametrize("value", [-1, 1001, float("nan"), float("inf"), True, "8", None])
def test_coalesce_ms_out_of_range_or_not_a_number_is_refused(tpu_model: bytes, value: Any) -> None:
    with pytest.raises(InputError, match="coalesce_ms"):
        Engine(tpu_model, devices="sim:1", coalesce_ms=value)


async def test_a_backlog_is_taken_in_batches_and_every_frame_gets_its_own_result(tpu_model: bytes) -> None:
    batch = frames(300)
    # A wide window, so that batches form however slowly this host runs.
    outcomes, stats = await run_backlog(tpu_model, batch, 100)
    assert sorted(i for i, _, _ in outcomes) == list(range(len(batch)))
    for i, result, error in outcomes:
        assert error is None and result is not None
        assert int(np.argmax(result.outputs[0])) == expected_class(batch[i])
    assert stats["frames"] == len(batch)
    assert stats["deferred"] >= 1, stats
    assert stats["frames_per_drain"] > 1.0, stats
    assert stats["coalesce_ms"] == 100.0


async def test_with_coalescing_off_no_batch_is_put_off(tpu_model: bytes) -> None:
    batch = frames(120)
    outcomes, stats = await run_backlog(tpu_model, batch, 0)
    assert len(outcomes) == len(batch) and all(e is None for _, _, e in outcomes)
    assert stats["deferred"] == 0 and stats["frames"] == len(batch)


async def test_awaited_infers_are_never_held_back(tpu_model: bytes) -> None:
    batch = frames(96)
    async with Engine(tpu_model, devices="sim:2@1ms", coalesce_ms=1000) as engine:
        for frame in batch[:16]:  # one at a time, as a request handler would
            result = await engine.infer(frame)
            assert int(np.argmax(result.outputs[0])) == expected_class(frame)
        # Many callers at once: they wait for engine slots, so the frames in flight never
        # exceed the devices' queues and no batch is put off (a 1 s wait would show here).
        results = await asyncio.gather(*(engine.infer(f) for f in batch))
        stats = engine.completion_stats()
    assert [int(np.argmax(r.outputs[0])) for r in results] == [expected_class(f) for f in batch]
    assert stats["deferred"] == 0, stats
    assert stats["frames"] == 16 + len(batch)


async def test_closing_with_a_batch_put_off_delivers_every_frame_once(tpu_model: bytes) -> None:
    batch = frames(400)
    engine = Engine(tpu_model, devices="sim:2@1ms", coalesce_ms=1000)
    await engine.start()
    outcomes, done = await submit_backlog(engine, batch)
    runner = await until_deferred(engine)
    await engine.close()
    assert runner._deferred is None  # the put-off drain was cancelled and done by close
    assert done.is_set()
    assert sorted(i for i, _, _ in outcomes) == list(range(len(batch)))
    for i, result, error in outcomes:
        if error is None:
            assert result is not None and int(np.argmax(result.outputs[0])) == expected_class(batch[i])
        else:
            assert isinstance(error, EngineClosedError)


async def test_pipeline_results_are_the_same_in_order_with_and_without_batches(tpu_model: bytes) -> None:
    streams = {f"cam{k}": frames(60, seed=k) for k in range(4)}
    seen: Dict[float, Dict[str, List[Tuple[int, int]]]] = {}
    for coalesce in (0.0, 50.0):
        async with Pipeline(model=tpu_model, devices="sim:2@1ms", coalesce_ms=coalesce) as p:
            for name, batch in streams.items():
                p.add_source(iter(batch), name=name)
            got: Dict[str, List[Tuple[int, int]]] = {name: [] for name in streams}
            async for r in p.results():
                if r.ok:
                    assert r.result is not None and r.index is not None
                    got[r.stream].append((r.index, int(np.argmax(r.result.outputs[0]))))
            stats = p.stats()
        json.loads(json.dumps(stats["completions"], allow_nan=False))
        assert stats["completions"]["frames"] >= sum(len(b) for b in streams.values())
        seen[coalesce] = got
    for name, batch in streams.items():
        assert seen[0.0][name] == [(i, expected_class(f)) for i, f in enumerate(batch)]
        assert seen[50.0][name] == seen[0.0][name]


async def test_a_wake_up_while_a_drain_is_put_off_is_taken_not_spun_on(tpu_model: bytes) -> None:
    """The loop watches the wake-up descriptor level-triggered: one left readable would call the
    reader again and again until the put-off drain."""
    batch = frames(400)
    async with Engine(tpu_model, devices="sim:2@1ms", coalesce_ms=1000) as engine:
        outcomes, done = await submit_backlog(engine, batch)
        runner = await until_deferred(engine)
        fd = runner.native.wake_fd
        os.write(fd, (1).to_bytes(8, "little"))  # as a stray signal would
        await asyncio.sleep(0.02)
        assert runner._deferred is not None  # still the one put-off drain
        assert select.select([fd], [], [], 0)[0] == []  # taken, so the loop sleeps again
        await asyncio.wait_for(done.wait(), 120)
    assert sorted(i for i, _, _ in outcomes) == list(range(len(batch)))
