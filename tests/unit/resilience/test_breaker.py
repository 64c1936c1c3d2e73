"""The circuit breaker state machine, each threshold and transition checked at its boundary.

Time is a ManualClock; nothing sleeps. JUST_UNDER is about a millisecond but exact in binary, so
"a moment before the deadline" and "at the deadline" are exact comparisons.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from app.clock import ManualClock
from app.config import BreakerPolicy
from app.errors import CircuitOpenError
from app.metrics import Metrics
from app.resilience import (
    BreakerRegistry,
    BreakerState,
    CircuitBreaker,
    MetricsBreakerListener,
)
from app.resilience.breaker import HALF_OPEN_BUSY_RETRY_SECONDS
from app.resilience.window import CountWindow, TimeWindow

JUST_UNDER = 2.0**-10  # ~1 ms
FAST = 0.1  # seconds, well under slow_call_duration_seconds
SLOW = 5.0  # seconds, exactly slow_call_duration_seconds


def make_policy(**overrides: Any) -> BreakerPolicy:
    values: dict[str, Any] = {
        "window_type": "count",
        "window_size": 10,
        "minimum_calls": 10,
        "failure_rate_threshold": 50.0,
        "slow_call_duration_seconds": SLOW,
        "slow_call_rate_threshold": 80.0,
        "wait_in_open_seconds": 30.0,
        "permitted_in_half_open": 3,
    }
    values.update(overrides)
    return BreakerPolicy.model_validate(values)


class RecordingListener:
    def __init__(self) -> None:
        self.transitions: list[tuple[str, str, str]] = []
        self.not_permitted: list[str] = []

    def on_transition(self, name: str, from_state: BreakerState, to_state: BreakerState) -> None:
        self.transitions.append((name, from_state.value, to_state.value))

    def on_not_permitted(self, name: str) -> None:
        self.not_permitted.append(name)


def succeed(breaker: CircuitBreaker, n: int = 1, duration_seconds: float = FAST) -> None:
    for _ in range(n):
        breaker.acquire().success(duration_seconds)


def fail(breaker: CircuitBreaker, n: int = 1, duration_seconds: float = FAST) -> None:
    for _ in range(n):
        breaker.acquire().failure(duration_seconds)


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """The state read afresh: an `assert breaker.state is ...` would let mypy assume the
    property keeps that value after the calls that follow."""
    return breaker.state


def trip(breaker: CircuitBreaker) -> None:
    while breaker.state is BreakerState.CLOSED:
        fail(breaker)


def half_open(breaker: CircuitBreaker, clock: ManualClock) -> None:
    trip(breaker)
    clock.advance(breaker.policy.wait_in_open_seconds)
    assert state_of(breaker) is BreakerState.HALF_OPEN


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


# ---------------------------------------------------------------- CLOSED -> OPEN


def test_stays_closed_below_minimum_calls_even_at_100_percent_failures(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(minimum_calls=5), clock)
    fail(breaker, 4)
    snap = breaker.snapshot()
    assert snap.state == "closed"
    assert (snap.calls_in_window, snap.failed_calls) == (4, 4)
    assert snap.failure_rate is None and snap.slow_call_rate is None
    fail(breaker)
    assert state_of(breaker) is BreakerState.OPEN


@pytest.mark.parametrize(("failures", "expected"), [(49, "closed"), (50, "open")])
def test_opens_exactly_at_failure_rate_threshold(
    clock: ManualClock, failures: int, expected: str
) -> None:
    breaker = CircuitBreaker("m", make_policy(window_size=100, minimum_calls=100), clock)
    succeed(breaker, 100 - failures)
    fail(breaker, failures)
    snap = breaker.snapshot()
    assert snap.state == expected
    assert snap.failure_rate == float(failures)


@pytest.mark.parametrize(("slow_calls", "expected"), [(7, "closed"), (8, "open")])
def test_opens_at_slow_call_rate_threshold(
    clock: ManualClock, slow_calls: int, expected: str
) -> None:
    breaker = CircuitBreaker("m", make_policy(), clock)
    succeed(breaker, 10 - slow_calls, duration_seconds=SLOW - JUST_UNDER)  # just fast enough
    succeed(breaker, slow_calls, duration_seconds=SLOW)  # exactly the slow duration is slow
    snap = breaker.snapshot()
    assert snap.state == expected
    assert snap.slow_call_rate == slow_calls * 10.0
    assert snap.failure_rate == 0.0


def test_a_slow_failure_counts_as_failed_and_slow(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(), clock)
    fail(breaker, 1, duration_seconds=SLOW)
    snap = breaker.snapshot()
    assert (snap.calls_in_window, snap.failed_calls, snap.slow_calls) == (1, 1, 1)


# ---------------------------------------------------------------- windows


def test_count_window_forgets_the_oldest_outcome(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(window_size=4, minimum_calls=4), clock)
    fail(breaker)
    succeed(breaker, 3)  # F S S S: 25 %
    assert breaker.snapshot().failed_calls == 1
    succeed(breaker)  # the F slides out
    snap = breaker.snapshot()
    assert (snap.calls_in_window, snap.failed_calls, snap.failure_rate) == (4, 0, 0.0)
    fail(breaker)
    fail(breaker)  # S S F F: 50 % opens
    assert state_of(breaker) is BreakerState.OPEN


def test_time_window_forgets_outcomes_older_than_its_size(clock: ManualClock) -> None:
    policy = make_policy(window_type="time", window_size=10, minimum_calls=3)
    breaker = CircuitBreaker("m", policy, clock)
    fail(breaker, 2)
    clock.advance(10 - JUST_UNDER)
    assert breaker.snapshot().calls_in_window == 2
    clock.advance(JUST_UNDER)  # ten seconds after the failures' second began
    assert breaker.snapshot().calls_in_window == 0
    fail(breaker, 2)  # the two old failures no longer help reach minimum_calls
    assert state_of(breaker) is BreakerState.CLOSED
    fail(breaker)
    assert state_of(breaker) is BreakerState.OPEN


def test_time_window_aggregates_per_second_and_clears_after_a_long_gap() -> None:
    window = TimeWindow(3)
    for second in range(5):
        window.record(failed=second % 2 == 0, slow=False, now_seconds=100.0 + second)
    tallies = window.tallies(104.5)  # seconds 102, 103, 104 remain
    assert (tallies.calls, tallies.failed) == (3, 2)
    assert window.tallies(1_000_000.0).calls == 0
    window.record(failed=True, slow=True, now_seconds=1_000_000.0)
    assert window.tallies(1_000_000.9) == window.tallies(1_000_000.0)


def test_count_window_keeps_exactly_its_size() -> None:
    window = CountWindow(3)
    for i in range(7):
        window.record(failed=i < 5, slow=i == 6, now_seconds=0.0)
    tallies = window.tallies(0.0)  # outcomes 4, 5, 6
    assert (tallies.calls, tallies.failed, tallies.slow) == (3, 1, 1)


# ---------------------------------------------------------------- OPEN -> HALF_OPEN


def test_open_rejects_until_the_wait_has_elapsed(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(), clock)
    trip(breaker)
    clock.advance(30 - JUST_UNDER)
    with pytest.raises(CircuitOpenError) as refused:
        breaker.acquire()
    assert refused.value.name == "m"
    assert refused.value.retry_after_seconds == pytest.approx(JUST_UNDER)
    assert breaker.snapshot().retry_in_seconds == pytest.approx(JUST_UNDER)
    clock.advance(JUST_UNDER)
    assert breaker.snapshot().state == "half_open"
    assert breaker.snapshot().retry_in_seconds == 0.0
    breaker.acquire()


def test_open_shows_the_tallies_that_opened_it(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(), clock)
    succeed(breaker, 5)
    fail(breaker, 5)
    snap = breaker.snapshot()
    assert (snap.state, snap.failure_rate, snap.calls_in_window) == ("open", 50.0, 10)
    assert snap.retry_in_seconds == 30.0


# ---------------------------------------------------------------- HALF_OPEN


def test_half_open_admits_exactly_n_concurrent_trials(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(permitted_in_half_open=3), clock)
    half_open(breaker, clock)
    trials = [breaker.acquire() for _ in range(3)]
    assert breaker.snapshot().half_open_in_flight == 3
    with pytest.raises(CircuitOpenError) as refused:
        breaker.acquire()
    assert refused.value.retry_after_seconds == HALF_OPEN_BUSY_RETRY_SECONDS
    trials[0].success(FAST)
    # A finished trial does not free its slot: the verdict needs exactly three outcomes.
    with pytest.raises(CircuitOpenError):
        breaker.acquire()
    assert breaker.snapshot().half_open_in_flight == 2


def test_half_open_closes_after_n_successes_with_an_empty_window(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(permitted_in_half_open=3), clock)
    half_open(breaker, clock)
    trials = [breaker.acquire() for _ in range(3)]
    trials[0].success(FAST)
    trials[1].success(FAST)
    assert state_of(breaker) is BreakerState.HALF_OPEN
    trials[2].success(FAST)
    snap = breaker.snapshot()
    assert (snap.state, snap.calls_in_window, snap.failure_rate) == ("closed", 0, None)


def test_half_open_reopens_on_one_failed_trial_and_waits_again(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(permitted_in_half_open=3), clock)
    half_open(breaker, clock)
    first, second = breaker.acquire(), breaker.acquire()
    first.success(FAST)
    second.failure(FAST)
    assert state_of(breaker) is BreakerState.OPEN
    clock.advance(30 - JUST_UNDER)
    assert state_of(breaker) is BreakerState.OPEN
    clock.advance(JUST_UNDER)
    assert state_of(breaker) is BreakerState.HALF_OPEN


@pytest.mark.parametrize(("slow_trials", "expected"), [(2, "closed"), (3, "open")])
def test_half_open_reopens_when_trials_are_slow_at_the_threshold(
    clock: ManualClock, slow_trials: int, expected: str
) -> None:
    # 3 trials, 80 % slow threshold: 2 slow (66.7 %) close, 3 slow (100 %) reopen.
    breaker = CircuitBreaker("m", make_policy(permitted_in_half_open=3), clock)
    half_open(breaker, clock)
    trials = [breaker.acquire() for _ in range(3)]
    for i, permit in enumerate(trials):
        permit.success(SLOW if i < slow_trials else FAST)
    assert breaker.snapshot().state == expected


def test_a_late_result_from_before_open_does_not_count_in_half_open(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(permitted_in_half_open=1), clock)
    late_failure = breaker.acquire()
    late_success = breaker.acquire()
    half_open(breaker, clock)
    trial = breaker.acquire()
    late_failure.failure(FAST)  # would reopen if it counted as a trial
    late_success.success(FAST)  # would close if it counted as a trial
    snap = breaker.snapshot()
    assert (snap.state, snap.half_open_in_flight, snap.calls_in_window) == ("half_open", 1, 0)
    trial.success(FAST)
    assert state_of(breaker) is BreakerState.CLOSED


def test_a_trial_finishing_after_the_breaker_reopened_is_ignored(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(permitted_in_half_open=2), clock)
    half_open(breaker, clock)
    slow_trial, failing_trial = breaker.acquire(), breaker.acquire()
    failing_trial.failure(FAST)
    clock.advance(30)
    assert state_of(breaker) is BreakerState.HALF_OPEN  # a new trial period
    slow_trial.success(FAST)
    snap = breaker.snapshot()
    assert (snap.calls_in_window, snap.half_open_in_flight) == (0, 0)


def test_ignore_releases_a_half_open_slot_and_is_not_recorded(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(permitted_in_half_open=1), clock)
    half_open(breaker, clock)
    breaker.acquire().ignore()  # e.g. the question was a bad request (400)
    assert breaker.snapshot().half_open_in_flight == 0
    assert breaker.snapshot().calls_in_window == 0
    breaker.acquire().success(FAST)
    assert state_of(breaker) is BreakerState.CLOSED
    breaker.acquire().ignore()
    assert breaker.snapshot().calls_in_window == 0


def test_a_permit_records_only_its_first_outcome(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(), clock)
    permit = breaker.acquire()
    permit.success(FAST)
    permit.failure(FAST)
    permit.ignore()
    snap = breaker.snapshot()
    assert (snap.calls_in_window, snap.failed_calls) == (1, 0)


# ---------------------------------------------------------------- 429 retry-after


def test_retry_after_holds_off_calls_while_closed(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(), clock)
    breaker.acquire().failure(FAST, retry_after_seconds=5.0)
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.snapshot().failed_calls == 1
    clock.advance(5 - JUST_UNDER)
    with pytest.raises(CircuitOpenError) as refused:
        breaker.acquire()
    assert refused.value.retry_after_seconds == pytest.approx(JUST_UNDER)
    assert breaker.snapshot().retry_in_seconds == pytest.approx(JUST_UNDER)
    clock.advance(JUST_UNDER)
    breaker.acquire().success(FAST)
    assert breaker.snapshot().retry_in_seconds == 0.0


def test_opening_on_a_429_waits_for_the_longer_of_wait_and_retry_after(
    clock: ManualClock,
) -> None:
    breaker = CircuitBreaker("m", make_policy(minimum_calls=1, window_size=1), clock)
    breaker.acquire().failure(FAST, retry_after_seconds=60.0)
    assert breaker.snapshot().retry_in_seconds == 60.0
    clock.advance(60 - JUST_UNDER)
    assert state_of(breaker) is BreakerState.OPEN
    clock.advance(JUST_UNDER)
    assert state_of(breaker) is BreakerState.HALF_OPEN


def test_a_short_retry_after_does_not_shorten_the_open_wait(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(minimum_calls=1, window_size=1), clock)
    breaker.acquire().failure(FAST, retry_after_seconds=2.0)
    clock.advance(30 - JUST_UNDER)
    assert state_of(breaker) is BreakerState.OPEN
    clock.advance(JUST_UNDER)
    assert state_of(breaker) is BreakerState.HALF_OPEN


# ---------------------------------------------------------------- reconfigure


def test_reconfigure_keeps_state_and_deadline(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(), clock)
    trip(breaker)
    breaker.reconfigure(make_policy(wait_in_open_seconds=5.0, failure_rate_threshold=90.0))
    clock.advance(30 - JUST_UNDER)
    assert state_of(breaker) is BreakerState.OPEN
    clock.advance(JUST_UNDER)
    assert state_of(breaker) is BreakerState.HALF_OPEN


def test_reconfigure_keeps_the_window_when_its_shape_is_unchanged(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(), clock)
    succeed(breaker, 7)
    fail(breaker, 3)  # 30 %: closed at a 50 % threshold
    breaker.reconfigure(make_policy(minimum_calls=5))
    assert breaker.snapshot().calls_in_window == 10
    breaker.reconfigure(make_policy(failure_rate_threshold=30.0))  # applied at once
    assert state_of(breaker) is BreakerState.OPEN


def test_reconfigure_resets_the_window_when_its_shape_changes(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(), clock)
    fail(breaker, 5)
    breaker.reconfigure(make_policy(window_type="time", window_size=60))
    snap = breaker.snapshot()
    assert (snap.state, snap.calls_in_window) == ("closed", 0)


def test_reconfigure_with_fewer_trials_can_close_half_open(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", make_policy(permitted_in_half_open=3), clock)
    half_open(breaker, clock)
    succeed(breaker, 2)
    breaker.reconfigure(make_policy(permitted_in_half_open=2))
    assert state_of(breaker) is BreakerState.CLOSED


# ---------------------------------------------------------------- listeners and metrics


def test_listener_hears_transitions_and_refusals(clock: ManualClock) -> None:
    listener = RecordingListener()
    breaker = CircuitBreaker("sonnet", make_policy(permitted_in_half_open=1), clock, listener)
    trip(breaker)
    with pytest.raises(CircuitOpenError):
        breaker.acquire()
    clock.advance(30)
    breaker.acquire().success(FAST)
    assert listener.transitions == [
        ("sonnet", "closed", "open"),
        ("sonnet", "open", "half_open"),
        ("sonnet", "half_open", "closed"),
    ]
    assert listener.not_permitted == ["sonnet"]
    assert breaker.snapshot().not_permitted_calls == 1


def test_metrics_listener_sets_gauge_transitions_and_refusals(clock: ManualClock) -> None:
    registry = CollectorRegistry()
    registries = BreakerRegistry(make_policy(), clock, MetricsBreakerListener(Metrics(registry)))

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"model": "sonnet", **labels})

    breaker = registries.get("sonnet")
    assert sample("ai_circuit_breaker_state", state="closed") == 1.0
    assert sample("ai_circuit_breaker_state", state="open") == 0.0
    assert sample("ai_circuit_breaker_not_permitted_calls_total") == 0.0
    edge = {"from_state": "closed", "to_state": "open"}
    assert sample("ai_circuit_breaker_transitions_total", **edge) == 0.0
    trip(breaker)
    with pytest.raises(CircuitOpenError):
        breaker.acquire()
    assert sample("ai_circuit_breaker_state", state="open") == 1.0
    assert sample("ai_circuit_breaker_state", state="closed") == 0.0
    assert sample("ai_circuit_breaker_transitions_total", **edge) == 1.0
    assert sample("ai_circuit_breaker_not_permitted_calls_total") == 1.0


# ---------------------------------------------------------------- registry


def test_registry_keeps_one_breaker_per_model_and_reconfigures_all(clock: ManualClock) -> None:
    breakers = BreakerRegistry(make_policy(), clock)
    sonnet, haiku = breakers.get("sonnet"), breakers.get("haiku")
    assert breakers.get("sonnet") is sonnet and haiku is not sonnet
    trip(sonnet)
    assert breakers.snapshots()["sonnet"].state == "open"
    assert breakers.snapshots()["haiku"].state == "closed"
    breakers.reconfigure(make_policy(minimum_calls=1))
    fail(haiku)
    assert list(breakers.snapshots()) == ["haiku", "sonnet"]
    assert breakers.get("haiku").state is BreakerState.OPEN
    assert breakers.get("opus").policy.minimum_calls == 1


# ---------------------------------------------------------------- concurrency


@pytest.mark.parametrize("seed", range(20))
async def test_half_open_never_exceeds_n_trials_under_50_concurrent_tasks(
    clock: ManualClock, seed: int
) -> None:
    permitted = 3
    breaker = CircuitBreaker("m", make_policy(permitted_in_half_open=permitted), clock)
    half_open(breaker, clock)
    rng = random.Random(seed)
    in_flight = 0
    peak = 0
    trials_started = 0

    async def caller() -> None:
        nonlocal in_flight, peak, trials_started
        for _ in range(20):
            trial = breaker.state is BreakerState.HALF_OPEN
            try:
                permit = breaker.acquire()
            except CircuitOpenError:
                await asyncio.sleep(0)  # yield to the other tasks; no wall time passes
                continue
            if trial:
                trials_started += 1
                in_flight += 1
                peak = max(peak, in_flight)
                assert breaker.snapshot().half_open_in_flight == in_flight
            for _ in range(rng.randrange(5)):
                await asyncio.sleep(0)
            if trial:
                in_flight -= 1
            outcome = rng.random()
            if outcome < 0.1:
                permit.failure(FAST)
            elif outcome < 0.2:
                permit.ignore()
            else:
                permit.success(FAST)
            return

    await asyncio.gather(*(caller() for _ in range(50)))
    assert 1 <= peak <= permitted
    assert breaker.snapshot().half_open_in_flight == 0
    # Ignored trials hand their slot back, so more than N may start, but never N at once.
    assert trials_started >= 1
