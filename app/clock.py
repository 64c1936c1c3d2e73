"""Injectable time. Production code asks a Clock; tests hand in a ManualClock and never sleep."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

# An injectable asyncio.sleep: what paces a background loop (tests hand in one they control).
Sleep = Callable[[float], Awaitable[None]]


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC (budget windows are calendar-aligned on it)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; only differences mean anything (latency, breaker)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to. Both readings advance together."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    def set(self, when: datetime) -> None:
        """Jump the wall clock (e.g. to just before a window boundary); monotonic follows."""
        delta = (when - self._now).total_seconds()
        self.advance(delta)
