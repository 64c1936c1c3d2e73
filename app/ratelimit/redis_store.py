"""The shared rate limit store: every replica's decisions for one caller go through one Lua
script on one Redis (redis_scripts.py), so the limit holds for the fleet, not per replica.

Errors are raised to the caller (limiter.py), which decides in-process instead. Every operation
goes through the Redis server's breaker (DependencyGuard, shared with the ledger and the
caches): once Redis is known to be down, a decision costs microseconds, not a timeout.

Its own client, with the ledger's 1 s socket timeout rather than the cache's 0.5 s: a timed-out
decision is made per replica (looser), and healthy operations were measured at 0.57-0.65 s
under a burst on a loaded node (app/resilience/redis_dependency.py). A connection error is
retried once (nothing ran); a timeout is not: the script may have run, and a second run would
take a second request from the caller's allowance.
"""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import Redis

from app.ratelimit import redis_scripts
from app.ratelimit.gcra import Decision, LimitKind, Quota
from app.resilience.dependency import DependencyGuard
from app.resilience.redis_dependency import LEDGER_SOCKET_TIMEOUT_SECONDS, redis_client

PREFIX = "sre-ai:ratelimit"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisRateStore:
    def __init__(self, url: str, guard: DependencyGuard | None, prefix: str = PREFIX) -> None:
        self._redis: Redis = redis_client(url, socket_timeout_seconds=LEDGER_SOCKET_TIMEOUT_SECONDS)
        self._guard = guard
        self._prefix = prefix
        self._admit = self._redis.register_script(redis_scripts.ADMIT)
        self._charge = self._redis.register_script(redis_scripts.CHARGE)

    async def aclose(self) -> None:
        await self._redis.aclose()

    def keys(self, caller: str) -> tuple[str, str]:
        """The caller's two keys; the hash tag keeps them in one Cluster slot."""
        tag = "{" + f"{self._prefix}:{caller}" + "}"
        return f"{tag}:requests", f"{tag}:tokens"

    async def _run(self, step: Any) -> Any:
        return await (step if self._guard is None else self._guard.run(step))

    async def admit(self, caller: str, rpm: int, tpm: int) -> Decision:
        raw = await self._run(self._admit(keys=list(self.keys(caller)), args=[rpm, tpm]))
        allowed, refused, wait, r_rem, r_reset, t_rem, t_reset = raw
        refused_by = _text(refused) or None
        return Decision(
            allowed=int(allowed) == 1,
            refused_by=cast(LimitKind | None, refused_by),
            retry_after_seconds=float(wait),
            requests=Quota(rpm, int(r_rem), float(r_reset)) if rpm else None,
            tokens=Quota(tpm, int(t_rem), float(t_reset)) if tpm else None,
        )

    async def charge(self, caller: str, tpm: int, tokens: int) -> float:
        """Charge a finished call's tokens; returns how far the bucket now runs ahead (s)."""
        _, token_key = self.keys(caller)
        return float(await self._run(self._charge(keys=[token_key], args=[tpm, tokens])))
