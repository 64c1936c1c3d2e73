"""Can the shared Redis evict the ledger's keys? Checked at start-up and every minute.

Redis with a `maxmemory` and any `maxmemory-policy` but `noeviction` deletes keys when it is full:
the allkeys-* policies any key, the volatile-* policies any key with a TTL, and every ledger key
has one (a window's spend expires after its period). An evicted spend counter is a budget window
back to $0 in the middle of its period, so the budgets stop holding. Managed Redis often comes
with an evicting policy (a cache's habit), and the chart's Redis takes `extraArgs`. With
`noeviction` a full Redis refuses writes instead: the ledger fails closed and answers degrade,
nothing is overspent (the caches sharing it are bounded by the policy's entry limits).

Nothing here changes Redis. The service says so: an ERROR line when the setting becomes unsafe
(an INFO line when it is safe again), `ai_ledger_evictable` 1 (alert AILedgerEvictable), and it
keeps serving. INFO, not CONFIG GET: managed services (ElastiCache, Memorystore) refuse CONFIG.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Gauge
from redis.exceptions import ResponseError

from app.clock import Sleep

log = logging.getLogger("app.budget")

SAFE_POLICY = "noeviction"
CHECK_EVERY_SECONDS = 60.0
CHECK_TIMEOUT_SECONDS = 2.0


class InfoClient(Protocol):
    """What is read of the Redis client (redis.asyncio.Redis)."""

    def info(self, section: str) -> Awaitable[Mapping[str, Any]]: ...


@dataclass(frozen=True)
class EvictionSetting:
    maxmemory: int  # bytes; 0: no limit, so nothing is ever evicted
    policy: str

    @property
    def evictable(self) -> bool:
        return self.maxmemory > 0 and self.policy != SAFE_POLICY


def eviction_setting(memory_info: Mapping[str, Any]) -> EvictionSetting:
    """From the fields of `INFO memory`; ValueError if they are not there."""
    try:
        return EvictionSetting(int(memory_info["maxmemory"]),
                               str(memory_info["maxmemory_policy"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"INFO memory without maxmemory/maxmemory_policy: {exc!r}") from exc


class EvictionWatch:
    """Reads the setting through `client` and reports it in `gauge` and the log."""

    def __init__(self, client: InfoClient, gauge: Gauge, *, sleep: Sleep = asyncio.sleep,
                 interval_seconds: float = CHECK_EVERY_SECONDS) -> None:
        self._client = client
        self._gauge = gauge
        self._sleep = sleep
        self._interval = interval_seconds
        self._last: EvictionSetting | None = None
        self._refused = False  # said once that Redis will not tell

    async def run(self) -> None:
        while True:
            await self.check()
            await self._sleep(self._interval)

    async def check(self) -> EvictionSetting | None:
        """The setting now, or None when Redis could not say (down, or not Redis-like): the
        gauge keeps the last reading, the outage has its own alert (AIRedisUnavailable)."""
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                setting = eviction_setting(await self._client.info("memory"))
        except Exception as exc:  # redis-py's errors, OSError, TimeoutError, a bad reply
            error = {"error": f"{type(exc).__name__}: {exc}"}
            if isinstance(exc, (ResponseError, ValueError)) and not self._refused:
                # Redis answered, but not with the setting: an ACL user without INFO (it is in
                # @dangerous), a proxy. That lasts, so it is said once; an outage is not.
                self._refused = True
                log.warning("cannot read Redis' maxmemory-policy, so cannot tell whether it may "
                            "evict the budget ledger's keys; make sure it is noeviction",
                            extra={"fields": error})
            else:
                log.debug("could not read Redis' eviction policy", extra={"fields": error})
            return None
        before, self._last = self._last, setting
        self._gauge.set(1 if setting.evictable else 0)
        fields = {"maxmemory": setting.maxmemory, "maxmemory_policy": setting.policy}
        if setting.evictable and (before is None or not before.evictable):
            log.error(
                "Redis may evict the budget ledger's keys: it has a maxmemory and the "
                "maxmemory-policy is not noeviction, so when it fills up it deletes keys, and "
                "an evicted spend counter resets a budget window. Set maxmemory-policy "
                "noeviction (runbooks/ai-ledger-evictable.md)", extra={"fields": fields})
        elif not setting.evictable and before is not None and before.evictable:
            log.info("Redis no longer evicts the budget ledger's keys", extra={"fields": fields})
        return setting
