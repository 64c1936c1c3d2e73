"""What a circuit breaker (breaker.py) tells the outside: its states, the snapshot that
/circuit-breaker shows, and the hooks its listener implements.

Separate from breaker.py, which is the state machine alone: these are the names the breaker's
readers share with it (registry.py's metrics listener and snapshots, dependency.py's Redis
guard), so they read here what a breaker reports without the code that decides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerSnapshot:
    """What /circuit-breaker shows. Rates are percentages, None until there are enough calls.

    CLOSED reports the sliding window, HALF_OPEN the completed trial calls, OPEN the tallies that
    made it open. `retry_in_seconds` is how long calls are refused for any reason; the `hold_*`
    fields describe the upstream's retry-after hold alone (0 / None when there is none).
    """

    name: str
    state: str
    failure_rate: float | None
    slow_call_rate: float | None
    calls_in_window: int
    failed_calls: int
    slow_calls: int
    retry_in_seconds: float
    half_open_in_flight: int
    not_permitted_calls: int
    hold_seconds: float = 0.0
    held_until: str | None = None  # ISO 8601 UTC
    hold_reason: str | None = None


class BreakerListener(Protocol):
    def on_transition(
        self, name: str, from_state: BreakerState, to_state: BreakerState
    ) -> None: ...

    def on_not_permitted(self, name: str) -> None: ...


@runtime_checkable
class BreakerCreationListener(Protocol):
    """Optional extra hook: a listener with `on_created` hears of each new breaker."""

    def on_created(self, name: str, state: BreakerState) -> None: ...
