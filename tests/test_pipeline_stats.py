"""The pipeline's small meters: Rate counts events over its window in 50 ms buckets."""

from __future__ import annotations

import pytest

from streamcore.pipeline.stats import Rate


def test_rate_counts_every_event_within_its_window() -> None:
    rate = Rate(window=5.0)
    rate._started = 0.0
    for i in range(100):  # 10 events per second for 10 s, several per bucket
        rate.add(now=i * 0.1)
    assert rate.total == 100
    # the buckets that started in the last 5 s, the open one included: 50 events
    assert rate.per_second(now=9.95) == pytest.approx(50 / 5.0, rel=0.05)


def test_rate_adds_within_a_bucket_and_counts_n() -> None:
    rate = Rate(window=1.0)
    rate._started = 0.0
    rate.add(3, now=0.50)
    rate.add(2, now=0.52)  # same bucket
    rate.add(1, now=0.70)  # a new one
    assert rate.total == 6
    assert rate.per_second(now=1.0) == pytest.approx(6.0)
    assert rate.per_second(now=1.6) == pytest.approx(1.0)  # only the bucket from 0.70 is left
    assert rate.per_second(now=3.0) == 0.0


def test_rate_before_its_window_has_passed_divides_by_the_time_so_far() -> None:
    rate = Rate(window=5.0)
    rate._started = 0.0
    rate.add(now=0.1)
    rate.add(now=0.9)
    assert rate.per_second(now=1.0) == pytest.approx(2.0)
