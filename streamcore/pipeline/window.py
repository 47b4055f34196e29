"""A counting window shared by a source thread (which blocks on it) and the event loop
(which frees slots): the backpressure of lossless streams."""

from __future__ import annotations

import asyncio
import threading

__all__ = ["Window"]


class Window:
    """`size` slots. A source thread that finds none waits until half of them are free, so
    it is woken once per burst of frames rather than once per frame (each wake-up is a
    context switch and a GIL hand-off on the loop's core)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._resume = max(1, size // 2)
        # The frame paths take the lock itself: a Condition's __enter__ and __exit__ are Python
        # calls, and wait/notify only need the lock held.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiting = False
        self._freed: "asyncio.Event | None" = None

    def acquire_blocking(self, stopping: threading.Event, poll: float = 0.05) -> bool:
        """From a source thread: waits for a slot; False once `stopping` is set."""
        with self._lock:
            if self._free == 0:
                self._waiting = True
                try:
                    while self._free < self._resume:
                        if stopping.is_set():
                            return False
                        self._cond.wait(poll)
                finally:
                    self._waiting = False
            if stopping.is_set():
                return False
            self._free -= 1
            return True

    def _try_acquire(self) -> bool:
        with self._lock:
            if self._free == 0:
                return False
            self._free -= 1
            return True

    async def acquire(self, stopping: threading.Event) -> bool:
        """From the event loop (async sources)."""
        while not self._try_acquire():
            if stopping.is_set():
                return False
            if self._freed is None:
                self._freed = asyncio.Event()
            self._freed.clear()
            await self._freed.wait()
        return True

    def release(self, n: int = 1) -> None:
        """On the event loop: frees `n` slots."""
        with self._lock:
            self._free += n
            if self._waiting and self._free >= self._resume:
                self._cond.notify()
        if self._freed is not None:
            self._freed.set()

    def wake(self) -> None:
        """Wakes async waiters so they notice a stop."""
        if self._freed is not None:
            self._freed.set()
