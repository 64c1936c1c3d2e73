"""Breaker settings that used to disable it, and retry-after hints of any size (ManualClock).

- A count window smaller than `minimum_calls` never held enough calls to judge: the breaker
  could not open. The minimum is clamped to the window size (resilience4j does the same).
- One `retry-after` could hold a model off for ever (or, as inf, break every route) while the
  state said CLOSED. The hold is capped by `max_retry_after_seconds` and visible in snapshots.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from datetime import timedelta

import pytest

from app.clock import ManualClock
from app.errors import CircuitOpenError
from app.resilience import BreakerState, CircuitBreaker
from tests.unit.resilience.test_breaker import FAST, fail, make_policy, state_of


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
    assert state_of(breaker) is BreakerState.OPEN
    assert breaker.snapshot().failure_rate == 100.0


def test_time_window_keeps_minimum_calls_as_written(clock: ManualClock) -> None:
    # A 5-second window can hold any number of calls: no clamp.
    policy = make_policy(window_type="time", window_size=5, minimum_calls=10)
    assert policy.effective_minimum_calls == 10
    breaker = CircuitBreaker("m", policy, clock)
    fail(breaker, 9)
    assert state_of(breaker) is BreakerState.CLOSED
    fail(breaker)
    assert state_of(breaker) is BreakerState.OPEN


def test_reconfigure_to_a_small_count_window_can_open(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(window_size=3, minimum_calls=3), clock)
    fail(breaker, 2)
    breaker.reconfigure(make_policy(window_size=3, minimum_calls=50))  # same window shape
    fail(breaker)
    assert state_of(breaker) is BreakerState.OPEN


# ---------------------------------------------------------------- retry-after bounds


def test_a_huge_retry_after_is_capped_and_shown(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(max_retry_after_seconds=300), clock)
    breaker.acquire().failure(FAST, retry_after_seconds=1e9)
    snap = breaker.snapshot()
    assert snap.state == "closed"
    assert snap.hold_seconds == 300.0 and snap.retry_in_seconds == 300.0
    assert snap.held_until == (clock.now() + timedelta(seconds=300)).isoformat()
    assert snap.hold_reason == (
        "upstream retry-after 1e+09s, capped at 300s (breaker.max_retry_after_seconds)"
    )
    clock.advance(300 - 2.0**-10)
    with pytest.raises(CircuitOpenError) as refused:
        breaker.acquire()
    assert "retry-after" in refused.value.detail
    clock.advance(2.0**-10)
    breaker.acquire().success(FAST)
    snap = breaker.snapshot()
    assert (snap.hold_seconds, snap.held_until, snap.hold_reason) == (0.0, None, None)


def test_a_retry_after_within_the_cap_is_obeyed_as_is(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(max_retry_after_seconds=300), clock)
    breaker.acquire().failure(FAST, retry_after_seconds=42.5)
    snap = breaker.snapshot()
    assert (snap.hold_seconds, snap.hold_reason) == (42.5, "upstream retry-after 42.5s")


@pytest.mark.parametrize("hint", [math.inf, math.nan, -5.0, 0.0])
def test_a_non_finite_or_non_positive_retry_after_earns_no_hold(
    clock: ManualClock, hint: float
) -> None:
    breaker = CircuitBreaker("m", make_policy(), clock)
    breaker.acquire().failure(FAST, retry_after_seconds=hint)
    snap = breaker.snapshot()
    assert (snap.hold_seconds, snap.retry_in_seconds) == (0.0, 0.0)
    json.dumps(asdict(snap), allow_nan=False)  # what /circuit-breaker serialises
    breaker.acquire()
    assert snap.failed_calls == 1  # the failure itself still counts


def test_opening_on_a_huge_retry_after_waits_at_most_the_cap(clock: ManualClock) -> None:
    policy = make_policy(window_size=1, minimum_calls=1, wait_in_open_seconds=30,
                         max_retry_after_seconds=120)
    breaker = CircuitBreaker("m", policy, clock)
    breaker.acquire().failure(FAST, retry_after_seconds=1e12)
    assert state_of(breaker) is BreakerState.OPEN
    assert breaker.snapshot().retry_in_seconds == 120.0
    clock.advance(120)
    assert state_of(breaker) is BreakerState.HALF_OPEN
    breaker.acquire()


def test_zero_cap_ignores_retry_after(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(max_retry_after_seconds=0), clock)
    breaker.acquire().failure(FAST, retry_after_seconds=60)
    assert breaker.snapshot().hold_seconds == 0.0
    breaker.acquire()


def test_lowering_the_cap_shortens_a_running_hold(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(max_retry_after_seconds=3600), clock)
    breaker.acquire().failure(FAST, retry_after_seconds=3600)
    clock.advance(10)
    breaker.reconfigure(make_policy(max_retry_after_seconds=5))
    assert breaker.snapshot().hold_seconds == 5.0
    clock.advance(5)
    breaker.acquire()


def test_a_shorter_hint_keeps_the_longer_hold_and_its_reason(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(window_size=100, minimum_calls=100), clock)
    first, second = breaker.acquire(), breaker.acquire()  # two calls in flight
    first.failure(FAST, retry_after_seconds=1e6)  # capped at the default 300
    second.failure(FAST, retry_after_seconds=10)
    snap = breaker.snapshot()
    assert snap.hold_seconds == 300.0
    assert snap.hold_reason is not None and "capped at 300s" in snap.hold_reason
