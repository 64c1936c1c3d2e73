"""A circuit breaker in front of a shared dependency (Redis), so a dead or hung server costs a
request nothing once it has been detected.

Why: every cache and ledger operation waits its own socket timeout when Redis hangs, and one
/ask makes up to six of them. The guard puts the same CircuitBreaker the models use
(breaker.py: sliding window, failure rate, wait in OPEN, half-open trials, injected clock) in
front of every operation: after a few failures the operations are refused at once
(CircuitOpenError, a short-circuit) and the callers take their usual way out (ledger: fail
closed; cache: local tier). After `wait_in_open_seconds` one trial operation goes through
(HALF_OPEN): its success closes the breaker, so recovery needs no restart and no operator.

Only the failures given to the guard count (for Redis: connection errors and timeouts). Any
other error (a script bug, a bad argument) says nothing about the server's health: the call is
neither a success nor a failure. A cancelled call is not counted either. Failures of operations
that were already in flight when the previous failure was counted are one observation, not
several: without that, one half-second stall of this process (measured under the fleet test's
burst of concurrent asks) timed out five in-flight operations at once and opened the breaker
with Redis perfectly healthy.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Awaitable
from typing import TypeVar

from app.clock import Clock
from app.config import BreakerPolicy
from app.errors import CircuitOpenError
from app.metric_labels import DEPENDENCIES
from app.metrics import Metrics
from app.resilience.breaker import CircuitBreaker
from app.resilience.breaker_types import BreakerSnapshot, BreakerState

T = TypeVar("T")
log = logging.getLogger("app.resilience.dependency")


class MetricsDependencyListener:
    """Breaker events of a dependency -> ai_dependency_breaker_* metrics and one log line per
    transition (not one per refused operation: an outage must not flood the logs)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def on_created(self, name: str, state: BreakerState) -> None:
        self._metrics.init_dependency(name)
        self._metrics.set_dependency_state(name, state.value)

    def on_transition(self, name: str, from_state: BreakerState, to_state: BreakerState) -> None:
        self._metrics.dependency_breaker_transitions.labels(
            dependency=name, from_state=from_state.value, to_state=to_state.value
        ).inc()
        self._metrics.set_dependency_state(name, to_state.value)
        level = logging.INFO if to_state is BreakerState.CLOSED else logging.WARNING
        log.log(level, "dependency breaker %s", to_state.value, extra={"fields": {
            "dependency": name, "from_state": from_state.value, "to_state": to_state.value}})

    def on_not_permitted(self, name: str) -> None:
        self._metrics.dependency_short_circuited.labels(dependency=name).inc()


class DependencyGuard:
    """One breaker for one dependency (one server), shared by every client that talks to it."""

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy,
        clock: Clock,
        failures: tuple[type[BaseException], ...],
        metrics: Metrics | None = None,
    ) -> None:
        if metrics is not None and name not in DEPENDENCIES:
            raise ValueError(f"unknown dependency {name!r}: add it to app.metrics.DEPENDENCIES")
        self.name = name
        self._clock = clock
        self._failures = failures
        self._metrics = metrics
        self._last_failure_at = -math.inf  # clock.monotonic() when the last failure counted
        listener = MetricsDependencyListener(metrics) if metrics is not None else None
        self.breaker = CircuitBreaker(name, policy, clock, listener)

    @property
    def state(self) -> BreakerState:
        return self.breaker.state

    def snapshot(self) -> BreakerSnapshot:
        return self.breaker.snapshot()

    async def run(self, operation: Awaitable[T], *, must_try: bool = False) -> T:
        """Await `operation` if the breaker permits, and record how it went. Raises
        CircuitOpenError at once (without awaiting `operation`) when the breaker is open,
        unless `must_try`: an operation that records what already happened (the ledger's
        settle after a paid call) always goes through, outside the breaker's books."""
        if must_try:
            return await self._unguarded(operation)
        try:
            permit = self.breaker.acquire()
        except CircuitOpenError:
            if inspect.iscoroutine(operation):
                operation.close()  # never started: no "coroutine was never awaited" warning
            raise
        started = self._clock.monotonic()
        try:
            result = await operation
        except self._failures:
            now = self._clock.monotonic()
            if started < self._last_failure_at:
                # In flight when the previous failure was counted: the same observation. A
                # stall of THIS process (GC, CPU throttling, a busy event loop) times out every
                # in-flight operation at once; that is one piece of evidence, not N.
                permit.ignore()
            else:
                permit.failure(now - started)
                self._last_failure_at = now
            self._count("failure")
            raise
        except BaseException:
            permit.ignore()
            raise
        permit.success(self._clock.monotonic() - started)
        self._count("success")
        return result

    async def _unguarded(self, operation: Awaitable[T]) -> T:
        try:
            result = await operation
        except self._failures:
            self._count("failure")
            raise
        self._count("success")
        return result

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.dependency_calls.labels(dependency=self.name, outcome=outcome).inc()


async def guarded(guard: DependencyGuard | None, operation: Awaitable[T]) -> T:
    """`operation` through the dependency's breaker when there is one (CircuitOpenError at once
    while it is open), else simply awaited: what every Redis-backed tier does per call."""
    if guard is None:
        return await operation
    return await guard.run(operation)
