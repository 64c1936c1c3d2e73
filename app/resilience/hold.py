"""The retry-after hold of one breaker: how long the upstream asked us to leave a model alone.

Why a cap: a 429 may carry any `retry-after` (a day, a year, garbage). Obeyed as is, one reply
could silence a model until the next restart while the breaker still says CLOSED. The hold is
therefore cut to the policy's `breaker.max_retry_after_seconds`, hints that are not a positive
finite number are ignored (the failure itself still counts), and the reason is kept so that
/circuit-breaker can say why calls are refused.
"""

from __future__ import annotations

import math


def bounded_retry_after(asked_seconds: float | None, cap_seconds: float) -> float | None:
    """The hold a retry-after hint earns: positive, finite, at most `cap_seconds`; else None."""
    if asked_seconds is None or not math.isfinite(asked_seconds) or asked_seconds <= 0:
        return None
    if cap_seconds <= 0:
        return None
    return min(asked_seconds, cap_seconds)


class RetryAfterHold:
    """Monotonic deadline of the current hold, and why it was set."""

    __slots__ = ("reason", "until_seconds")

    def __init__(self) -> None:
        self.until_seconds = 0.0
        self.reason: str | None = None

    def remaining(self, now: float) -> float:
        return max(self.until_seconds - now, 0.0)

    def extend(self, now: float, asked_seconds: float | None, cap_seconds: float) -> float | None:
        """Hold until now + the bounded hint, unless an earlier hint holds longer. Returns the
        bounded hint (None when it earns no hold)."""
        seconds = bounded_retry_after(asked_seconds, cap_seconds)
        if seconds is None:
            return None
        if now + seconds > self.until_seconds:
            self.until_seconds = now + seconds
            self.reason = f"upstream retry-after {asked_seconds:g}s"
            if seconds < (asked_seconds or 0.0):
                self.reason += f", capped at {cap_seconds:g}s (breaker.max_retry_after_seconds)"
        return seconds

    def cap(self, now: float, cap_seconds: float) -> None:
        """A lowered cap shortens a running hold: the operator's way to release a model early."""
        self.until_seconds = min(self.until_seconds, now + cap_seconds)
