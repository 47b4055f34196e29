"""A reader's queue of records: asyncio.Queue's behaviour for what streams and readers use of
it (bounded put/get, put_nowait raising QueueFull, qsize), in a fraction of its calls. Every
record passes through one per reader, and asyncio.Queue is pure Python: about ten calls a
record (task accounting included) where this makes two."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Deque, Generic, Optional, TypeVar

__all__ = ["RecordQueue"]

T = TypeVar("T")


class RecordQueue(Generic[T]):
    """FIFO of at most `maxsize` items (0: unbounded), used from the event loop only.
    ``items`` is the deque itself: a reader may test it before awaiting get()."""

    __slots__ = ("maxsize", "items", "_getters", "_putters")

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = maxsize
        self.items: Deque[T] = deque()
        self._getters: Deque["asyncio.Future[None]"] = deque()
        self._putters: Deque["asyncio.Future[None]"] = deque()

    def qsize(self) -> int:
        return len(self.items)

    def empty(self) -> bool:
        return not self.items

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self.items)

    def put_nowait(self, item: T) -> None:
        if 0 < self.maxsize <= len(self.items):
            raise asyncio.QueueFull
        self.items.append(item)
        if self._getters:
            _wake_one(self._getters)

    async def put(self, item: T) -> None:
        while 0 < self.maxsize <= len(self.items):
            await _wait(self._putters)
        self.put_nowait(item)

    def get_nowait(self) -> T:
        if not self.items:
            raise asyncio.QueueEmpty
        item = self.items.popleft()
        if self._putters:
            _wake_one(self._putters)
        return item

    async def get(self) -> T:
        items = self.items
        while not items:
            await _wait(self._getters)
        item = items.popleft()
        if self._putters:
            _wake_one(self._putters)
        return item


def _wake_one(waiters: "Deque[asyncio.Future[None]]") -> None:
    while waiters:
        waiter = waiters.popleft()
        if not waiter.done():
            waiter.set_result(None)
            return


async def _wait(waiters: "Deque[asyncio.Future[None]]") -> None:
    waiter: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
    waiters.append(waiter)
    try:
        await waiter
    except BaseException:
        if waiter.done() and not waiter.cancelled():
            _wake_one(waiters)  # woken, then cancelled: the wake-up goes to the next waiter
        else:
            waiter.cancel()
            try:
                waiters.remove(waiter)
            except ValueError:
                pass
        raise
