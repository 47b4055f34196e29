"""Keeps an engine's devices in rotation: takes devices that report not ready out, and
brings failed ones back, with a probe invoke for transient failures, else a reopen by path
with backoff."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Dict

from ..backends.pool import DevicePool
from ..errors import StreamcoreError

if TYPE_CHECKING:
    from .runner import ModelRunner

__all__ = ["HealthMonitor"]

log = logging.getLogger("streamcore.engine")

HEALTH_INTERVAL_S = 0.05
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0


class HealthMonitor:
    def __init__(self, runner: "ModelRunner", pool: DevicePool) -> None:
        self.runner = runner
        self.pool = pool

    async def watch(self) -> None:
        """Takes devices that report not ready out of rotation, and brings failed ones
        back: a probe invoke for transient failures, else a reopen with backoff."""
        loop = asyncio.get_running_loop()
        next_try: Dict[int, float] = {}
        delay: Dict[int, float] = {}
        while self.runner.native is not None:
            await asyncio.sleep(HEALTH_INTERVAL_S)
            native = self.runner.native
            if native is None:
                return
            for i, state in enumerate(native.stats()):
                placement, built = self.runner.placements[i], self.runner.devices[i]
                if state["healthy"]:
                    if built is not None and built.tpu is not None and not built.tpu.closed and not built.tpu.is_ready():
                        log.warning("%s: %s is not ready; taking it out of rotation", self.runner.engine_name, placement[0])
                        native.set_healthy(i, False)
                    delay.pop(i, None)
                    continue
                now = time.monotonic()
                if now < next_try.get(i, 0.0):
                    continue
                if await loop.run_in_executor(None, self.recover, i):
                    log.warning("%s: %s is back in rotation", self.runner.engine_name, placement[0])
                    self.runner.reopens[i] = self.runner.reopens.get(i, 0) + 1
                    delay.pop(i, None)
                else:
                    delay[i] = min(BACKOFF_MAX_S, delay.get(i, BACKOFF_FIRST_S / 2) * 2)
                    next_try[i] = now + delay[i]

    def recover(self, index: int) -> bool:
        """Runs in an executor thread. True when the device is back in rotation."""
        native = self.runner.native
        if native is None:
            return False
        placement, built = self.runner.placements[index], self.runner.devices[index]
        _, runtime, record = placement
        if built is not None and (built.tpu is None or (not built.tpu.closed and built.tpu.is_ready())):
            try:
                built.native.invoke()  # the lane is idle while unhealthy
                native.set_healthy(index, True)
                return True
            except StreamcoreError:
                if record is None:
                    return False  # a CPU interpreter that fails is not reopened
        if record is None:
            return False
        if built is not None:
            if native.retire_device(index) is None:
                return False  # a frame is still running on it
            self.pool.forget(runtime, record)
            self.runner.devices[index] = None
            del built  # the last references: the device closes and its path frees
        if record.path not in {p for _, p in runtime.enumerate()}:
            return False
        try:
            fresh = self.pool.build(self.runner.model, placement)
        except StreamcoreError as e:
            log.info("%s: reopening %s failed: %s", self.runner.engine_name, placement[0], e)
            return False
        native.install_device(index, fresh.native)
        self.runner.devices[index] = fresh
        return True
