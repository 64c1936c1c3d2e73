"""Who may answer an alert, and with a paid model or not: shared by every replica through Redis,
with an in-process fallback while Redis is absent or failing (as the answer cache does).

- `claim`: the same (fingerprint, startsAt) is answered once. Redis `SET NX PX`; an answer that
  fails `release`s its claim so Alertmanager's next re-send tries again. A claim lives
  ANSWERING_SECONDS until `answered` keeps it for the whole `dedupe_ttl_seconds`: an alert
  claimed by a pod that died before answering it (OOM-killed, SIGKILL at the end of its grace
  period, a node lost) is answered at a re-send an hour later, not ignored for a week.
- `paid_slot`: the storm caps on PAID answers, per Alertmanager group and per minute. Both
  counters are taken together (a Lua script), only when both are under their caps, so an alert
  refused by one cap does not use up the other.

Only durations go to Redis (PX): it expires keys by its own clock, so a replica whose clock is
off (or a test running a year ahead) cannot make a key outlive or precede its window. The
fallback's windows run on this process's monotonic clock. During a Redis outage each replica
caps on its own (the caps are per replica then: at most replicas x cap).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.clock import Clock
from app.config import AlertsPolicy
from app.errors import CircuitOpenError
from app.resilience.dependency import DependencyGuard, guarded

log = logging.getLogger("app.alerts")
PREFIX = "sre-ai:alerts:"
MINUTE_MS = 60_000
LOCAL_MAX_KEYS = 100_000  # the fallback's memory bound (oldest claims forgotten first)
# A claim's life until its answer is recorded: far beyond the time an alert waits in a live
# pod's queue and is answered (a paid call is bounded by llm.timeout_seconds), short next to a
# week of re-sends ignored.
ANSWERING_SECONDS = 3600.0
Cap = Literal["group", "minute"]

_TAKE = """
local g = tonumber(redis.call('GET', KEYS[1]) or '0')
if g >= tonumber(ARGV[1]) then return 1 end
local m = tonumber(redis.call('GET', KEYS[2]) or '0')
if m >= tonumber(ARGV[2]) then return 2 end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if redis.call('INCR', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
return 0
"""
_CAPS: dict[int, Cap | None] = {0: None, 1: "group", 2: "minute"}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _seen(fingerprint: str, starts_at: str) -> str:
    """The claim's key: one per occurrence (an alert that fires again has a new startsAt)."""
    return f"{PREFIX}seen:{_digest(fingerprint + chr(0) + starts_at)}"


class _LocalWindows:
    """Keys with a value and an expiry on the monotonic clock, bounded in number."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._items: dict[str, tuple[int, float]] = {}

    def get(self, key: str) -> int:
        item = self._items.get(key)
        if item is None or item[1] <= self._clock.monotonic():
            self._items.pop(key, None)
            return 0
        return item[0]

    def incr(self, key: str, ttl_seconds: float) -> int:
        value = self.get(key) + 1
        expires = self._items[key][1] if value > 1 else self._clock.monotonic() + ttl_seconds
        self._items.pop(key, None)  # re-inserted last: the dict's order is the eviction order
        self._items[key] = (value, expires)
        while len(self._items) > LOCAL_MAX_KEYS:
            del self._items[next(iter(self._items))]
        return value

    def delete(self, key: str) -> None:
        self._items.pop(key, None)

    def keep(self, key: str, ttl_seconds: float) -> None:
        """A live key lives `ttl_seconds` from now (a gone one stays gone)."""
        if self.get(key):
            self._items[key] = (self._items[key][0], self._clock.monotonic() + ttl_seconds)


class AlertGate:
    def __init__(self, policy: Callable[[], AlertsPolicy], clock: Clock,
                 redis: Redis | None = None, guard: DependencyGuard | None = None) -> None:
        self._policy = policy
        self._redis = redis
        self._guard = guard
        self._local = _LocalWindows(clock)
        self._take = redis.register_script(_TAKE) if redis is not None else None

    async def _shared(self, operation: Awaitable[Any]) -> Any:
        """Through the Redis breaker. Raises _Unavailable when Redis cannot answer."""
        try:
            return await guarded(self._guard, operation)
        except (RedisError, OSError, CircuitOpenError) as exc:
            if not isinstance(exc, CircuitOpenError):
                log.warning("alert gate: Redis unavailable, deciding in this process",
                            extra={"fields": {"error": str(exc)}})
            raise _Unavailable from exc

    async def claim(self, fingerprint: str, starts_at: str) -> bool:
        """True for the first claim of this alert occurrence, False for a repeat."""
        key = _seen(fingerprint, starts_at)
        ttl = min(self._policy().dedupe_ttl_seconds, ANSWERING_SECONDS)
        if self._redis is not None:
            try:
                return bool(await self._shared(
                    self._redis.set(key, "1", nx=True, px=int(ttl * 1000))))
            except _Unavailable:
                pass
        return self._local.incr(key, ttl) == 1

    async def answered(self, fingerprint: str, starts_at: str) -> None:
        """The occurrence is answered: its claim now lasts `dedupe_ttl_seconds` (re-sends are
        duplicates for that long). Redis failing: the claim lapses after ANSWERING_SECONDS and
        a later re-send may be answered once more."""
        key = _seen(fingerprint, starts_at)
        ttl = self._policy().dedupe_ttl_seconds
        self._local.keep(key, ttl)
        if self._redis is not None:
            with contextlib.suppress(_Unavailable):
                await self._shared(self._redis.pexpire(key, int(ttl * 1000)))

    async def release(self, fingerprint: str, starts_at: str) -> None:
        key = _seen(fingerprint, starts_at)
        self._local.delete(key)
        if self._redis is not None:
            with contextlib.suppress(_Unavailable):
                await self._shared(self._redis.delete(key))

    async def paid_slot(self, group_key: str) -> Cap | None:
        """None: this alert may be answered by a paid model (and is counted); else the cap
        that refused it."""
        p = self._policy()
        group = f"{PREFIX}group:{_digest(group_key)}"
        minute = f"{PREFIX}minute"
        if self._take is not None:
            try:
                code = await self._shared(self._take(
                    keys=[group, minute],
                    args=[p.paid_per_group, p.paid_per_minute,
                          int(p.group_window_seconds * 1000), MINUTE_MS]))
                return _CAPS[int(code)]
            except _Unavailable:
                pass
        if self._local.get(group) >= p.paid_per_group:
            return "group"
        if self._local.get(minute) >= p.paid_per_minute:
            return "minute"
        self._local.incr(group, p.group_window_seconds)
        self._local.incr(minute, MINUTE_MS / 1000)
        return None


class _Unavailable(Exception):
    pass
