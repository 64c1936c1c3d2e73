"""Fail fast when an upstream model is unhealthy: per-model circuit breakers."""

from app.resilience.breaker import CircuitBreaker, Permit
from app.resilience.breaker_types import (
    BreakerCreationListener,
    BreakerListener,
    BreakerSnapshot,
    BreakerState,
)
from app.resilience.registry import BreakerRegistry, MetricsBreakerListener

__all__ = [
    "BreakerCreationListener",
    "BreakerListener",
    "BreakerRegistry",
    "BreakerSnapshot",
    "BreakerState",
    "CircuitBreaker",
    "MetricsBreakerListener",
    "Permit",
]
