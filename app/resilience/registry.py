"""Breakers for every upstream model, and the adapter that exposes them as Prometheus metrics.

The answer pipeline asks the registry for the breaker of the model it is about to call; the
/circuit-breaker endpoint reads `snapshots()`; a policy reload calls `reconfigure()`.
"""

from __future__ import annotations

from app.clock import Clock
from app.config import BreakerPolicy
from app.metrics import Metrics
from app.resilience.breaker import CircuitBreaker
from app.resilience.breaker_types import BreakerListener, BreakerSnapshot, BreakerState


class MetricsBreakerListener:
    """Feeds breaker events into app.metrics: state gauge, transitions, refused calls. (The
    retry-after hold gauge counts down with time: Runtime.refresh_gauges sets it at scrape.)"""

    # The edges the state machine can take, created at 0 so rate() works from the first scrape.
    EDGES = (
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    )

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def on_created(self, name: str, state: BreakerState) -> None:
        self._metrics.set_breaker_state(name, state.value)
        for from_state, to_state in self.EDGES:
            self._metrics.breaker_transitions.labels(
                model=name, from_state=from_state.value, to_state=to_state.value
            )
        self._metrics.breaker_not_permitted.labels(model=name)
        self._metrics.breaker_hold.labels(model=name)

    def on_transition(self, name: str, from_state: BreakerState, to_state: BreakerState) -> None:
        self._metrics.breaker_transitions.labels(
            model=name, from_state=from_state.value, to_state=to_state.value
        ).inc()
        self._metrics.set_breaker_state(name, to_state.value)

    def on_not_permitted(self, name: str) -> None:
        self._metrics.breaker_not_permitted.labels(model=name).inc()


class BreakerRegistry:
    """One breaker per upstream model, created on first use, all on the same policy.

    Names come from the policy's model allowlist, so the registry (and the metric labels)
    stay bounded.
    """

    def __init__(
        self, policy: BreakerPolicy, clock: Clock, listener: BreakerListener | None = None
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._listener = listener
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, name: str) -> CircuitBreaker:
        breaker = self._breakers.get(name)
        if breaker is None:
            breaker = CircuitBreaker(name, self._policy, self._clock, self._listener)
            self._breakers[name] = breaker
        return breaker

    def reconfigure(self, policy: BreakerPolicy) -> None:
        self._policy = policy
        for breaker in self._breakers.values():
            breaker.reconfigure(policy)

    def snapshots(self) -> dict[str, BreakerSnapshot]:
        return {name: self._breakers[name].snapshot() for name in sorted(self._breakers)}
