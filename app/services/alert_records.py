"""The recent alert records (GET /alerts/recent): a bounded ring, newest first. In Redis when
configured (one capped list, LPUSH + LTRIM, so every replica sees every record), else in this
process. Records written while Redis fails go to this process's ring and are listed from it
until Redis answers again: the endpoint shows what it can, it never fails."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.errors import CircuitOpenError
from app.resilience.dependency import DependencyGuard, guarded
from app.services.alert_payload import AlertRecord

log = logging.getLogger("app.alerts")
KEY = "sre-ai:alerts:recent"


class AlertRecords:
    def __init__(self, capacity: Callable[[], int], redis: Redis | None = None,
                 guard: DependencyGuard | None = None) -> None:
        self._capacity = capacity
        self._redis = redis
        self._guard = guard
        self._local: deque[AlertRecord] = deque()

    async def _shared(self, operation: Any) -> Any:
        return await guarded(self._guard, operation)

    async def add(self, record: AlertRecord) -> None:
        cap = self._capacity()
        if self._redis is not None:
            try:
                pipe = self._redis.pipeline(transaction=True)
                pipe.lpush(KEY, record.model_dump_json())
                pipe.ltrim(KEY, 0, cap - 1)
                await self._shared(pipe.execute())
                return
            except (RedisError, OSError, CircuitOpenError) as exc:
                log.warning("alert records: Redis unavailable, kept in this process",
                            extra={"fields": {"error": str(exc)}})
        self._local.appendleft(record)
        while len(self._local) > cap:
            self._local.pop()

    async def recent(self, *, status: str | None = None, alertname: str | None = None,
                     namespace: str | None = None, limit: int = 50) -> list[AlertRecord]:
        records: list[AlertRecord] = []
        if self._redis is not None:
            try:
                raw = await self._shared(self._redis.lrange(KEY, 0, self._capacity() - 1))
                records = [r for r in map(_parse, raw) if r is not None]
            except (RedisError, OSError, CircuitOpenError) as exc:
                log.warning("alert records: Redis unavailable, listing this process's",
                            extra={"fields": {"error": str(exc)}})
        records = [*self._local, *records]  # this process's outage records are the newest
        out = [r for r in records
               if (status is None or r.status == status)
               and (alertname is None or r.alertname == alertname)
               and (namespace is None or r.labels.get("namespace") == namespace)]
        return out[:limit]


def _parse(raw: bytes | str) -> AlertRecord | None:
    try:
        return AlertRecord.model_validate_json(raw)
    except ValidationError:
        return None  # a record another version wrote: skipped, not a failed page
