"""DependencyGuard: the shared-dependency breaker (Redis) around awaitable operations.

The operations are plain coroutines that raise what redis-py raises; time is a ManualClock.
"""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.clock import ManualClock
from app.errors import CircuitOpenError
from app.metrics import Metrics
from app.resilience.dependency import DependencyGuard
from app.resilience.redis_dependency import (
    REDIS_BREAKER_POLICY,
    SOCKET_TIMEOUT_SECONDS,
    redis_guard,
)


class Operations:
    """Counts the operations that actually ran (would have reached the socket)."""

    def __init__(self) -> None:
        self.started = 0

    async def ok(self) -> str:
        self.started += 1
        return "PONG"

    async def hung(self) -> str:
        self.started += 1
        raise RedisTimeoutError("Timeout reading from 127.0.0.1:6379")

    async def refused(self) -> str:
        self.started += 1
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    async def script_bug(self) -> str:
        self.started += 1
        raise ResponseError("ERR user_script:1: bad argument")


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"dependency": "redis", **labels})


async def fail(guard: DependencyGuard, ops: Operations, times: int) -> None:
    for _ in range(times):
        with pytest.raises((RedisTimeoutError, RedisConnectionError)):
            await guard.run(ops.hung())


async def test_series_exist_from_the_start_with_the_breaker_closed(
    clock: ManualClock, metrics: Metrics
) -> None:
    redis_guard(clock, metrics)
    assert sample(metrics, "ai_dependency_breaker_state", state="closed") == 1
    assert sample(metrics, "ai_dependency_breaker_state", state="open") == 0
    assert sample(metrics, "ai_dependency_short_circuited_calls_total") == 0
    assert sample(metrics, "ai_dependency_calls_total", outcome="failure") == 0
    edge = {"from_state": "half_open", "to_state": "closed"}
    assert sample(metrics, "ai_dependency_breaker_transitions_total", **edge) == 0


async def test_opens_after_minimum_calls_failures_then_refuses_without_running_the_operation(
    clock: ManualClock, metrics: Metrics
) -> None:
    guard = redis_guard(clock, metrics)
    ops = Operations()
    await fail(guard, ops, REDIS_BREAKER_POLICY.minimum_calls)
    assert guard.state.value == "open"
    assert ops.started == REDIS_BREAKER_POLICY.minimum_calls

    for _ in range(50):
        with pytest.raises(CircuitOpenError) as info:
            await guard.run(ops.ok())  # never started: closed without a warning
    assert ops.started == REDIS_BREAKER_POLICY.minimum_calls
    wait = REDIS_BREAKER_POLICY.wait_in_open_seconds
    assert info.value.retry_after_seconds == pytest.approx(wait)
    assert sample(metrics, "ai_dependency_short_circuited_calls_total") == 50
    assert sample(metrics, "ai_dependency_calls_total", outcome="failure") == 3
    assert sample(metrics, "ai_dependency_breaker_state", state="open") == 1


async def test_a_refused_connection_counts_like_a_timeout(clock: ManualClock) -> None:
    guard = redis_guard(clock)
    ops = Operations()
    for _ in range(REDIS_BREAKER_POLICY.minimum_calls):
        with pytest.raises(RedisConnectionError):
            await guard.run(ops.refused())
    assert guard.state.value == "open"


async def test_server_side_errors_say_nothing_about_health(clock: ManualClock) -> None:
    guard = redis_guard(clock)
    ops = Operations()
    for _ in range(20):
        with pytest.raises(ResponseError):
            await guard.run(ops.script_bug())
    assert guard.state.value == "closed"
    assert guard.snapshot().calls_in_window == 0


async def test_half_open_lets_one_probe_through_and_its_success_closes_the_breaker(
    clock: ManualClock, metrics: Metrics
) -> None:
    guard = redis_guard(clock, metrics)
    ops = Operations()
    await fail(guard, ops, REDIS_BREAKER_POLICY.minimum_calls)
    clock.advance(REDIS_BREAKER_POLICY.wait_in_open_seconds - 0.001)
    with pytest.raises(CircuitOpenError):
        await guard.run(ops.ok())
    clock.advance(0.001)

    # Still down: the one probe fails and the breaker waits another full period.
    await fail(guard, ops, 1)
    assert guard.state.value == "open"
    clock.advance(REDIS_BREAKER_POLICY.wait_in_open_seconds)

    started = ops.started
    assert await guard.run(ops.ok()) == "PONG"  # Redis is back: the probe closes it
    assert ops.started == started + 1
    assert guard.state.value == "closed"
    assert await guard.run(ops.ok()) == "PONG"
    edges = {(f, t): sample(metrics, "ai_dependency_breaker_transitions_total",
                            from_state=f, to_state=t)
             for f, t in (("closed", "open"), ("open", "half_open"),
                          ("half_open", "open"), ("half_open", "closed"))}
    assert edges == {("closed", "open"): 1, ("open", "half_open"): 2,
                     ("half_open", "open"): 1, ("half_open", "closed"): 1}
    assert sample(metrics, "ai_dependency_breaker_state", state="closed") == 1


async def test_half_open_refuses_everything_but_the_one_probe_in_flight(
    clock: ManualClock,
) -> None:
    guard = redis_guard(clock)
    ops = Operations()
    await fail(guard, ops, REDIS_BREAKER_POLICY.minimum_calls)
    clock.advance(REDIS_BREAKER_POLICY.wait_in_open_seconds)
    permit = guard.breaker.acquire()  # a probe in flight (e.g. another request's lookup)
    with pytest.raises(CircuitOpenError):
        await guard.run(ops.ok())
    permit.success(0.001)
    assert guard.state.value == "closed"


async def test_a_cancelled_probe_frees_the_half_open_slot(clock: ManualClock) -> None:
    guard = redis_guard(clock)
    ops = Operations()
    await fail(guard, ops, REDIS_BREAKER_POLICY.minimum_calls)
    clock.advance(REDIS_BREAKER_POLICY.wait_in_open_seconds)

    async def cancelled() -> str:
        raise asyncio.CancelledError  # the caller gave up (shutdown, a deadline): no verdict

    with pytest.raises(asyncio.CancelledError):
        await guard.run(cancelled())
    assert guard.state.value == "half_open"
    assert await guard.run(ops.ok()) == "PONG"
    assert guard.state.value == "closed"


def test_a_dependency_outside_the_metrics_allowlist_is_refused(
    clock: ManualClock, metrics: Metrics
) -> None:
    with pytest.raises(ValueError, match="unknown dependency"):
        DependencyGuard("postgres", REDIS_BREAKER_POLICY, clock, (OSError,), metrics)


async def test_failures_of_operations_in_flight_together_count_once(clock: ManualClock) -> None:
    """One stall of this process times out every in-flight operation at once: one failure."""
    guard = redis_guard(clock)
    ops = Operations()
    stall = asyncio.Event()

    async def in_flight() -> str:
        await stall.wait()
        return await ops.hung()

    tasks = [asyncio.create_task(guard.run(in_flight())) for _ in range(5)]
    await asyncio.sleep(0)  # let them all start (a yield, not a wait for time)
    clock.advance(SOCKET_TIMEOUT_SECONDS)
    stall.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RedisTimeoutError) for r in results)
    assert guard.state.value == "closed"
    assert guard.snapshot().failed_calls == 1

    # Operations started after that failure are new evidence: two more open the breaker.
    await fail(guard, ops, REDIS_BREAKER_POLICY.minimum_calls - 1)
    assert guard.state.value == "open"


async def test_a_settle_is_tried_even_while_the_breaker_is_open(
    clock: ManualClock, metrics: Metrics
) -> None:
    guard = redis_guard(clock, metrics)
    ops = Operations()
    await fail(guard, ops, REDIS_BREAKER_POLICY.minimum_calls)
    assert await guard.run(ops.ok(), must_try=True) == "PONG"
    assert ops.started == REDIS_BREAKER_POLICY.minimum_calls + 1
    assert guard.state.value == "open"  # outside the breaker's books
    assert sample(metrics, "ai_dependency_calls_total", outcome="success") == 1
    with pytest.raises(RedisTimeoutError):
        await guard.run(ops.hung(), must_try=True)
    assert sample(metrics, "ai_dependency_short_circuited_calls_total") == 0
    assert sample(metrics, "ai_dependency_calls_total", outcome="failure") == 4
