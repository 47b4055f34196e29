"""RecordQueue, the readers' queue: asyncio.Queue's behaviour for what streams use of it."""

from __future__ import annotations

import asyncio
from typing import List

import pytest

from streamcore.pipeline.queue import RecordQueue


async def test_items_come_out_in_order_and_a_getter_waits_for_the_next() -> None:
    q: RecordQueue[int] = RecordQueue()
    for i in range(3):
        q.put_nowait(i)
    assert q.qsize() == 3 and not q.empty() and not q.full()
    assert [await q.get() for _ in range(3)] == [0, 1, 2]
    assert q.empty()
    getter = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.put_nowait(7)
    assert await asyncio.wait_for(getter, 5) == 7
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()


async def test_a_bounded_queue_refuses_put_nowait_and_blocks_put_until_room() -> None:
    q: RecordQueue[int] = RecordQueue(2)
    q.put_nowait(1)
    q.put_nowait(2)
    assert q.full()
    with pytest.raises(asyncio.QueueFull):
        q.put_nowait(3)
    putter = asyncio.ensure_future(q.put(3))
    await asyncio.sleep(0)
    assert not putter.done()
    assert q.get_nowait() == 1  # makes room: the putter goes on
    await asyncio.wait_for(putter, 5)
    assert [q.get_nowait(), q.get_nowait()] == [2, 3]


async def test_every_waiting_getter_gets_one_item() -> None:
    q: RecordQueue[int] = RecordQueue()
    got: List[int] = []

    async def reader() -> None:
        got.append(await q.get())

    readers = [asyncio.ensure_future(reader()) for _ in range(3)]
    await asyncio.sleep(0)
    for i in range(3):
        q.put_nowait(i)
    await asyncio.wait_for(asyncio.gather(*readers), 5)
    assert sorted(got) == [0, 1, 2]


async def test_a_getter_cancelled_after_its_wake_up_passes_it_on() -> None:
    """As asyncio.Queue: an item put while two readers wait is not stranded when the reader
    it woke is cancelled before it runs."""
    q: RecordQueue[int] = RecordQueue()
    first = asyncio.ensure_future(q.get())
    second = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    q.put_nowait(1)  # wakes `first`
    first.cancel()  # before it ran
    assert await asyncio.wait_for(second, 5) == 1
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_cancelled_waiter_leaves_no_trace() -> None:
    q: RecordQueue[int] = RecordQueue(1)
    getter = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    assert not q._getters
    q.put_nowait(1)
    putter = asyncio.ensure_future(q.put(2))
    await asyncio.sleep(0)
    putter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await putter
    assert not q._putters and q.get_nowait() == 1 and q.empty()
