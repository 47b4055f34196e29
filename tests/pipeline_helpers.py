"""Shared helpers of the pipeline tests: collecting records, checking order, loop lag."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Dict, List

import pytest

import streamcore
from streamcore import DeviceError, Pipeline, StreamResult


async def collect(p: Pipeline, until_idle: bool = True) -> Dict[str, List[StreamResult]]:
    by_stream: Dict[str, List[StreamResult]] = defaultdict(list)
    async for r in p.results(until_idle=until_idle):
        by_stream[r.stream].append(r)
    return dict(by_stream)


def assert_in_order(records: List[StreamResult]) -> None:
    indices = [r.index for r in records if r.kind == "result" and r.index is not None]
    assert indices == sorted(indices), "results out of frame order"
    assert len(set(indices)) == len(indices), "a frame came back twice"


def end_of(records: List[StreamResult]) -> StreamResult:
    assert records and records[-1].kind == "end", "the stream did not end with an end record"
    assert sum(r.kind == "end" for r in records) == 1
    return records[-1]


async def open_pipeline_or_skip(model: object, devices: str, **kw: object) -> Pipeline:
    """Starts a Pipeline; skips when the devices are not available in this build."""
    p = Pipeline(model=model, devices=devices, **kw)  # type: ignore[arg-type]
    try:
        await p.start()
    except DeviceError as e:
        await p.close()
        pytest.skip(f"devices={devices!r} not available in this build: {e}")
    return p


async def ticker_lags(stop: asyncio.Event, interval: float = 0.002) -> List[float]:
    """Independent loop-lag probe (ms), besides the pipeline's own monitor."""
    loop = asyncio.get_running_loop()
    lags: List[float] = []
    while not stop.is_set():
        due = loop.time() + interval
        await asyncio.sleep(interval)
        lags.append((loop.time() - due) * 1000)
    return lags


__all__ = ["collect", "assert_in_order", "end_of", "open_pipeline_or_skip", "ticker_lags", "streamcore"]
