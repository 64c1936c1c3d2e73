"""Fail fast when an upstream model is unhealthy: per-model circuit breakers."""

from app.resilience.breaker import (
    BreakerCreationListener,
    BreakerListener,
    BreakerSnapshot,
    BreakerState,
    CircuitBreaker,
    Permit,
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
