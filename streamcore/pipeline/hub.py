"""Where the streams of a pipeline deliver their records besides their own readers: the
pipeline-wide readers (``Pipeline.results()``), and whether a stream waits for one."""

from __future__ import annotations

import asyncio
from typing import List, Optional

from .queue import RecordQueue
from .records import StreamResult

__all__ = ["ResultHub"]


class ResultHub:
    """The pipeline-wide readers' queues. ``buffer`` bounds each reader's queue; with
    ``wait_for_consumer`` a stream holds its records until someone reads (its own
    ``results()`` or the hub's)."""

    def __init__(self, buffer: int, wait_for_consumer: bool) -> None:
        self.buffer = buffer
        self.wait_for_consumer = wait_for_consumer
        self.subscribers: List["RecordQueue[Optional[StreamResult]]"] = []
        self._subscription: Optional[asyncio.Event] = None

    def start(self) -> None:
        """On the event loop, before any stream delivers."""
        self._subscription = asyncio.Event()

    def notify_subscriber(self) -> None:
        """A reader (of the hub or of one stream) was added: wakes streams waiting for one."""
        if self._subscription is not None:
            self._subscription.set()
            self._subscription = asyncio.Event()

    async def subscriber_added(self) -> None:
        """Waits until the next reader is added."""
        assert self._subscription is not None
        await self._subscription.wait()
