"""RateLimiter: one caller's request decided against the live policy, in Redis when there is one.

Where: the API gates every route that can spend (/ask, streamed or not, and POST /alerts) with
`admit()` before any work, and charges a finished /ask's tokens with `charge()`.

Redis failing: FAIL OPEN to the in-process limiter. Each replica then enforces every caller's
limit on its own, so the fleet admits up to (replicas x limit) until Redis is back: a looser
limit, never an outage. Why not fail closed like the budget: a rate limit protects capacity,
and refusing every caller because the limiter's store is down is the outage it exists to
prevent; the money is still safe, because paid calls need the ledger, which does fail closed
on the same Redis. The shared breaker (app/resilience/redis_dependency.py) makes the switch
cost microseconds once Redis is known to be down, `ai_rate_limit_local_decisions_total` counts
it, and a WARN is logged at most once a minute. The in-process buckets start full: a caller
gets at most one extra burst per replica when Redis goes away or comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from redis.exceptions import RedisError

from app.clock import Clock
from app.config import RateLimitsPolicy
from app.errors import CircuitOpenError
from app.metrics import Metrics
from app.ratelimit.gcra import Decision
from app.ratelimit.memory import MemoryRateStore
from app.ratelimit.redis_store import RedisRateStore

log = logging.getLogger("app.ratelimit")
LOG_EVERY_SECONDS = 60.0
# What makes the shared store unusable for one operation: Redis down or hung (and its breaker
# open), or a server-side error (a script error, OOM): the limiter fails open on all of them.
_STORE_FAILURES = (CircuitOpenError, RedisError, OSError)


class RateLimiter:
    def __init__(self, policy: Callable[[], RateLimitsPolicy], clock: Clock, metrics: Metrics,
                 shared: RedisRateStore | None = None) -> None:
        self._policy = policy
        self._clock = clock
        self._metrics = metrics
        self._shared = shared
        self._local = MemoryRateStore(clock)
        self._logged_at = float("-inf")

    async def admit(self, caller: str) -> Decision | None:
        """The decision for one request of `caller`; None when no limit applies to it."""
        self._metrics.rate_limit_checks.inc()
        limits = self._policy().for_caller(caller)
        if limits.unlimited:
            return None
        rpm, tpm = limits.requests_per_minute, limits.tokens_per_minute
        decision: Decision | None = None
        if self._shared is not None:
            try:
                decision = await self._shared.admit(caller, rpm, tpm)
            except _STORE_FAILURES as exc:
                self._fell_back("admit", exc)
        if decision is None:
            decision = self._local.admit(caller, rpm, tpm)
        if not decision.allowed and decision.refused_by is not None:
            self._metrics.rate_limited.labels(limit=decision.refused_by).inc()
        return decision

    async def charge(self, caller: str, tokens: int) -> None:
        """Charge the tokens a finished call used to `caller`'s token bucket (when it has
        one). Never raises: the answer is already made."""
        tpm = self._policy().for_caller(caller).tokens_per_minute
        if tpm == 0 or tokens <= 0:
            return
        self._metrics.rate_limit_tokens_charged.inc(tokens)
        if self._shared is not None:
            try:
                await self._shared.charge(caller, tpm, tokens)
                return
            except _STORE_FAILURES as exc:
                self._fell_back("charge", exc)
        self._local.charge(caller, tpm, tokens)

    async def aclose(self) -> None:
        if self._shared is not None:
            await self._shared.aclose()

    def _fell_back(self, what: str, exc: BaseException) -> None:
        self._metrics.rate_limit_local_decisions.inc()
        now = self._clock.monotonic()
        if now - self._logged_at >= LOG_EVERY_SECONDS:
            self._logged_at = now
            # The error names host:port at most, never the URL (it may carry a password).
            log.warning("rate limits are per replica: the shared Redis failed", extra={
                "fields": {"operation": what, "error": f"{type(exc).__name__}: {exc}"}})
