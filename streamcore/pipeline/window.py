"""A counting window shared by a source thread (which blocks on it) and the event loop
(which frees slots): the backpressure of lossless streams."""

from __future__ import annotations

import asyncio
import threading

__all__ = ["Window"]


class Window:
    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = threading.Semaphore(size)
        self._freed: "asyncio.Event | None" = None

    def acquire_blocking(self, stopping: threading.Event, poll: float = 0.05) -> bool:
        """From a source thread: waits for a slot; False once `stopping` is set."""
        while not stopping.is_set():
            if self._slots.acquire(timeout=poll):
                return True
        return False

    async def acquire(self, stopping: threading.Event) -> bool:
        """From the event loop (async sources)."""
        while not self._slots.acquire(blocking=False):
            if stopping.is_set():
                return False
            if self._freed is None:
                self._freed = asyncio.Event()
            self._freed.clear()
            await self._freed.wait()
        return True

    def release(self) -> None:
        """On the event loop."""
        self._slots.release()
        if self._freed is not None:
            self._freed.set()

    def wake(self) -> None:
        """Wakes async waiters so they notice a stop."""
        if self._freed is not None:
            self._freed.set()
