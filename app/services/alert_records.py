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
PAGE = 200  # records read from Redis at a time by `recent`


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
        """Newest first, this process's outage records before the shared ones. The shared ring
        is read a page at a time and parsed record by record until `limit` match: a page of 50
        does not fetch and validate the whole ring (up to 10,000 answers) on the event loop."""
        def matches(record: AlertRecord) -> bool:
            return ((status is None or record.status == status)
                    and (alertname is None or record.alertname == alertname)
                    and (namespace is None or record.labels.get("namespace") == namespace))

        out = [r for r in self._local if matches(r)][:limit]
        start, capacity = 0, self._capacity()
        while self._redis is not None and len(out) < limit and start < capacity:
            stop = min(start + max(limit, PAGE), capacity)
            try:
                raw = await self._shared(self._redis.lrange(KEY, start, stop - 1))
            except (RedisError, OSError, CircuitOpenError) as exc:
                log.warning("alert records: Redis unavailable, listing this process's",
                            extra={"fields": {"error": str(exc)}})
                break
            for record in (r for r in map(_parse, raw) if r is not None):
                if len(out) >= limit:
                    break
                if matches(record):
                    out.append(record)
            if len(raw) < stop - start:
                break  # the ring holds no more
            start = stop
        return out


def _parse(raw: bytes | str) -> AlertRecord | None:
    try:
        return AlertRecord.model_validate_json(raw)
    except ValidationError:
        return None  # a record another version wrote: skipped, not a failed page
