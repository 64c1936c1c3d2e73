"""Calendar-aligned UTC budget windows (docs/architecture.md): this hour, today, this month.

Each window period has a key that names it ("hourly:2026-11-27T06"), so spend for a new period
lands under a new key and rollover needs no cleanup job: stores forget a period some time after
it closes (`keep_until`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

WINDOWS = ("hourly", "daily", "monthly")

# How long a closed period's spend is kept after it resets (for late settles and reports).
RETENTION = timedelta(days=7)


@dataclass(frozen=True)
class WindowKey:
    """One period of one window: `window` is hourly|daily|monthly, `period` its UTC label."""

    window: str
    period: str
    starts_at: datetime
    resets_at: datetime

    @property
    def storage_key(self) -> str:
        return f"{self.window}:{self.period}"

    @property
    def keep_until(self) -> datetime:
        return self.resets_at + RETENTION

    def seconds_until_reset(self, now: datetime) -> float:
        return max(0.0, (self.resets_at - now).total_seconds())


def _as_utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("budget windows need a timezone-aware time")
    return now.astimezone(UTC)


def window_key(window: str, now: datetime) -> WindowKey:
    """The period of `window` that contains `now`."""
    t = _as_utc(now)
    if window == "hourly":
        start = t.replace(minute=0, second=0, microsecond=0)
        return WindowKey(window, start.strftime("%Y-%m-%dT%H"), start, start + timedelta(hours=1))
    if window == "daily":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        return WindowKey(window, start.strftime("%Y-%m-%d"), start, start + timedelta(days=1))
    if window == "monthly":
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = (start + timedelta(days=32)).replace(day=1)
        return WindowKey(window, start.strftime("%Y-%m"), start, following)
    raise ValueError(f"unknown budget window {window!r}; expected one of {WINDOWS}")


def current_windows(now: datetime, names: tuple[str, ...] = WINDOWS) -> tuple[WindowKey, ...]:
    """The periods containing `now`, in the given order (smallest window first)."""
    return _windows_of_hour(names, _as_utc(now).replace(minute=0, second=0, microsecond=0))


@lru_cache(maxsize=64)
def _windows_of_hour(names: tuple[str, ...], hour: datetime) -> tuple[WindowKey, ...]:
    """Every window's period is the same all through a UTC hour, so a paid question reuses
    them: building them (strftime, datetime arithmetic) cost ~60 us a question (issue 14)."""
    return tuple(window_key(name, hour) for name in names)
