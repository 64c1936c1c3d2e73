"""Sliding windows of call outcomes for the circuit breaker (docs/architecture.md).

The breaker decides on rates over recent calls, so it needs "how many calls, how many failed,
how many were slow" over either the last N calls or the last N seconds. Both windows keep running
totals so that recording an outcome and reading the totals are O(1) (the time window is O(1)
amortised: it clears at most one bucket per elapsed second) and memory is bounded by N.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

from app.config import BreakerPolicy

# An outcome is stored as a small bit set so the count window is a flat list of ints.
_FAILED = 1
_SLOW = 2


class Tallies(NamedTuple):
    """Outcome counts over a window. A slow failure counts in both `failed` and `slow`."""

    calls: int = 0
    failed: int = 0
    slow: int = 0

    @property
    def failure_rate_percent(self) -> float:
        return self.failed * 100.0 / self.calls if self.calls else 0.0

    @property
    def slow_call_rate_percent(self) -> float:
        return self.slow * 100.0 / self.calls if self.calls else 0.0


class SlidingWindow(Protocol):
    def record(self, *, failed: bool, slow: bool, now_seconds: float) -> None: ...

    def tallies(self, now_seconds: float) -> Tallies: ...


class CountWindow:
    """The last `size_calls` outcomes, as a ring buffer."""

    def __init__(self, size_calls: int) -> None:
        if size_calls < 1:
            raise ValueError("a count window needs at least one slot")
        self._ring = [0] * size_calls
        self._next = 0
        self._filled = 0
        self._failed = 0
        self._slow = 0

    def record(self, *, failed: bool, slow: bool, now_seconds: float) -> None:
        if self._filled == len(self._ring):
            self._forget(self._ring[self._next])
        else:
            self._filled += 1
        outcome = (_FAILED if failed else 0) | (_SLOW if slow else 0)
        self._ring[self._next] = outcome
        self._failed += outcome & _FAILED
        self._slow += (outcome & _SLOW) >> 1
        self._next = (self._next + 1) % len(self._ring)

    def tallies(self, now_seconds: float) -> Tallies:
        return Tallies(calls=self._filled, failed=self._failed, slow=self._slow)

    def _forget(self, outcome: int) -> None:
        self._failed -= outcome & _FAILED
        self._slow -= (outcome & _SLOW) >> 1


class TimeWindow:
    """Outcomes of the last `size_seconds` seconds, aggregated in one bucket per whole second.

    At time t the window holds the buckets of seconds floor(t) - size + 1 .. floor(t), so an
    outcome recorded at second s is forgotten once the clock reaches s + size.
    """

    def __init__(self, size_seconds: int) -> None:
        if size_seconds < 1:
            raise ValueError("a time window needs at least one second")
        self._size = size_seconds
        self._calls = [0] * size_seconds
        self._failed = [0] * size_seconds
        self._slow = [0] * size_seconds
        self._latest_second: int | None = None
        self._totals = [0, 0, 0]  # calls, failed, slow

    def record(self, *, failed: bool, slow: bool, now_seconds: float) -> None:
        second = self._advance(now_seconds)
        i = second % self._size
        self._calls[i] += 1
        self._totals[0] += 1
        if failed:
            self._failed[i] += 1
            self._totals[1] += 1
        if slow:
            self._slow[i] += 1
            self._totals[2] += 1

    def tallies(self, now_seconds: float) -> Tallies:
        self._advance(now_seconds)
        calls, failed, slow = self._totals
        return Tallies(calls=calls, failed=failed, slow=slow)

    def _advance(self, now_seconds: float) -> int:
        """Clear the buckets of seconds that left the window; return the current second."""
        second = math.floor(now_seconds)
        latest = self._latest_second
        if latest is None:
            self._latest_second = second
            return second
        if second <= latest:
            return latest  # same second (a monotonic clock never goes back)
        if second - latest >= self._size:
            self._calls = [0] * self._size
            self._failed = [0] * self._size
            self._slow = [0] * self._size
            self._totals = [0, 0, 0]
        else:
            for s in range(latest + 1, second + 1):
                i = s % self._size
                self._totals[0] -= self._calls[i]
                self._totals[1] -= self._failed[i]
                self._totals[2] -= self._slow[i]
                self._calls[i] = self._failed[i] = self._slow[i] = 0
        self._latest_second = second
        return second


def window_for(policy: BreakerPolicy) -> SlidingWindow:
    if policy.window_type == "time":
        return TimeWindow(policy.window_size)
    return CountWindow(policy.window_size)


def same_window_shape(a: BreakerPolicy, b: BreakerPolicy) -> bool:
    """True when a policy reload can keep the recorded outcomes."""
    return a.window_type == b.window_type and a.window_size == b.window_size
