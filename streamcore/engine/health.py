"""Keeps an engine's devices in rotation: takes devices that report not ready out, and
brings failed ones back, with a probe invoke for transient failures, else a reopen by path
with backoff.

The monitor sees the model it watches only through ``DeviceSlots``: the native core's
slots, one per placed device."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Dict, List, Optional, Protocol, Tuple

from ..backends.base import BuiltDevice, Placement
from ..backends.pool import DevicePool
from ..errors import StreamcoreError
from .model import Model

__all__ = ["HealthMonitor", "DeviceSlots"]

log = logging.getLogger("streamcore.engine")

HEALTH_INTERVAL_S = 0.05
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0


class DeviceSlots(Protocol):
    """The device slots of one model's native core, as the health monitor needs them
    (implemented by the engine's ModelRunner). Once the core is closed, ``running`` is
    False, ``slot_stats`` is None and the other calls do nothing."""

    engine_name: str  # for log lines

    def model_for(self, index: int) -> Model:
        """What the slot's device runs: a reopened device is built for it."""
        ...

    @property
    def running(self) -> bool: ...

    def slot_stats(self) -> Optional[List[Dict[str, Any]]]:
        """The native core's stats per slot (``healthy``, ...)."""
        ...

    def slot(self, index: int) -> Tuple[Placement, Optional[BuiltDevice]]:
        """Where the slot's device is placed, and the device built there (None while it
        is being reopened)."""
        ...

    def set_healthy(self, index: int, healthy: bool) -> None:
        """Puts the slot in or out of rotation."""
        ...

    def retire(self, index: int) -> bool:
        """Takes the slot's device out of the core and drops it; False (and nothing done)
        while a frame is still running on it."""
        ...

    def install_device(self, index: int, device: BuiltDevice) -> None:
        """Puts a freshly built device in the slot."""
        ...

    def count_reopen(self, index: int) -> None:
        """Counts that the slot's device came back into rotation."""
        ...


class HealthMonitor:
    def __init__(self, slots: DeviceSlots, pool: DevicePool) -> None:
        self.slots = slots
        self.pool = pool
        self._stopping = False
        self._recovering: "Optional[asyncio.Future[bool]]" = None  # a recover() in an executor thread

    def stop_soon(self) -> None:
        """No reopen installs a device after this (close without awaiting)."""
        self._stopping = True

    async def stop(self, timeout: float) -> None:
        """After the watch task is cancelled: no reopen may finish after this returns. A reopen
        under way in its thread is awaited (bounded); one that completes now drops its device."""
        self._stopping = True
        recovering = self._recovering
        if recovering is not None and not recovering.done():
            try:
                await asyncio.wait_for(asyncio.shield(recovering), timeout)
            except (asyncio.TimeoutError, StreamcoreError):
                log.warning("%s: a device reopen was still running when the engine closed", self.slots.engine_name)

    async def watch(self) -> None:
        """Takes devices that report not ready out of rotation, and brings failed ones
        back: a probe invoke for transient failures, else a reopen with backoff."""
        loop = asyncio.get_running_loop()
        slots = self.slots
        next_try: Dict[int, float] = {}
        delay: Dict[int, float] = {}
        while slots.running:
            await asyncio.sleep(HEALTH_INTERVAL_S)
            states = slots.slot_stats()
            if states is None:
                return
            for i, state in enumerate(states):
                placement, built = slots.slot(i)
                if state["healthy"]:
                    if built is not None and not built.native.ready():
                        log.warning("%s: %s is not ready; taking it out of rotation", slots.engine_name, placement.name)
                        slots.set_healthy(i, False)
                    delay.pop(i, None)
                    continue
                now = time.monotonic()
                if now < next_try.get(i, 0.0):
                    continue
                self._recovering = loop.run_in_executor(None, self.recover, i)
                recovered = await self._recovering
                self._recovering = None
                if recovered:
                    log.warning("%s: %s is back in rotation", slots.engine_name, placement.name)
                    slots.count_reopen(i)
                    delay.pop(i, None)
                else:
                    delay[i] = min(BACKOFF_MAX_S, delay.get(i, BACKOFF_FIRST_S / 2) * 2)
                    next_try[i] = now + delay[i]

    def recover(self, index: int) -> bool:
        """Runs in an executor thread. True when the device is back in rotation."""
        slots = self.slots
        if not slots.running:
            return False
        placement, built = slots.slot(index)
        reopenable = self.pool.reopenable(placement)
        if built is not None and built.native.ready():
            try:
                built.native.invoke()  # the lane is idle while unhealthy
                slots.set_healthy(index, True)
                return True
            except StreamcoreError:
                if not reopenable:
                    return False  # a CPU device that fails is not reopened
        if not reopenable:
            return False
        if built is not None:
            if not slots.retire(index):
                return False  # a frame is still running on it
            self.pool.release(placement)
            del built  # the last references: the device closes and its path frees
        if not self.pool.present(placement):
            return False
        try:
            fresh = self.pool.build(slots.model_for(index), placement)
        except StreamcoreError as e:
            log.info("%s: reopening %s failed: %s", slots.engine_name, placement.name, e)
            return False
        if self._stopping or not slots.running:  # the engine closed meanwhile: never install
            self.pool.release(placement)
            del fresh
            return False
        slots.install_device(index, fresh)
        return True
