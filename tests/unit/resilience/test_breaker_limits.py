"""Breaker settings that used to disable it (ManualClock).

- A count window smaller than `minimum_calls` never held enough calls to judge: the breaker
  could not open. The minimum is clamped to the window size (resilience4j does the same).
"""

from __future__ import annotations

import pytest

from app.clock import ManualClock
from app.resilience import BreakerState, CircuitBreaker
from tests.unit.resilience.test_breaker import fail, make_policy


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


# ---------------------------------------------------------------- minimum_calls > window


def test_count_window_smaller_than_minimum_calls_opens_once_full(clock: ManualClock) -> None:
    policy = make_policy(window_size=5, minimum_calls=10)
    assert policy.effective_minimum_calls == 5
    breaker = CircuitBreaker("m", policy, clock)
    fail(breaker, 4)
    assert breaker.snapshot().failure_rate is None  # not judged before the window is full
    fail(breaker)
    assert breaker.state is BreakerState.OPEN
    assert breaker.snapshot().failure_rate == 100.0


def test_time_window_keeps_minimum_calls_as_written(clock: ManualClock) -> None:
    # A 5-second window can hold any number of calls: no clamp.
    policy = make_policy(window_type="time", window_size=5, minimum_calls=10)
    assert policy.effective_minimum_calls == 10
    breaker = CircuitBreaker("m", policy, clock)
    fail(breaker, 9)
    assert breaker.state is BreakerState.CLOSED
    fail(breaker)
    assert breaker.state is BreakerState.OPEN


def test_reconfigure_to_a_small_count_window_can_open(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(window_size=3, minimum_calls=3), clock)
    fail(breaker, 2)
    breaker.reconfigure(make_policy(window_size=3, minimum_calls=50))  # same window shape
    fail(breaker)
    assert breaker.state is BreakerState.OPEN
