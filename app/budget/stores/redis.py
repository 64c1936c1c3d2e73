"""Redis ledger store: shared by any number of replicas (SRE_AI_REDIS_URL).

Each operation is one Lua script (app/budget/stores/redis_scripts.py), atomic on the server, and
all its keys share a hash tag so the scripts also run on Redis Cluster and managed Redis.
Failures are fail-closed: any connection, timeout or server error becomes LedgerUnavailableError
quickly (short socket timeouts) and the client reconnects on the next call once Redis is back.
Every script is safe to run twice (same reservation id), so one retry on a dropped connection
cannot double-count. Expiry runs on the Redis server's clock alone: the caller's `now`,
`expires_at`, `keep_until` and `remember_until` are turned into durations here (see
redis_scripts.py), so a replica's clock skew never makes the ledger forget. Each window keeps a
running total of its holds, so an operation costs the same with 0 or 10,000 calls in flight.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.budget.stores import redis_scripts
from app.budget.stores.base import Slot, SlotUsage
from app.errors import CircuitOpenError, LedgerUnavailableError
from app.resilience.dependency import DependencyGuard
from app.resilience.redis_dependency import (
    CONNECT_TIMEOUT_SECONDS,
    LEDGER_SOCKET_TIMEOUT_SECONDS,
    redis_client,
)

DEFAULT_PREFIX = "sre-ai:ledger"


class RedisStore:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        socket_timeout_seconds: float = LEDGER_SOCKET_TIMEOUT_SECONDS,
        connect_timeout_seconds: float = CONNECT_TIMEOUT_SECONDS,
        guard: DependencyGuard | None = None,
    ) -> None:
        """`guard`: the breaker of this Redis server, shared with every other client of it
        (app/resilience/redis_dependency.py). Without one, every operation waits its own
        timeouts."""
        self._redis: Redis = redis_client(
            url,
            socket_timeout_seconds=socket_timeout_seconds,
            connect_timeout_seconds=connect_timeout_seconds,
            retry_timeouts=True,  # every script is idempotent; a lost reserve refuses a call
            decode_responses=True,
        )
        self._guard = guard
        self._tag = "{" + prefix + "}"
        self._reserve = self._redis.register_script(redis_scripts.RESERVE)
        self._settle = self._redis.register_script(redis_scripts.SETTLE)
        self._release = self._redis.register_script(redis_scripts.RELEASE)
        self._snapshot = self._redis.register_script(redis_scripts.SNAPSHOT)

    def _window_keys(self, slots: Sequence[Slot]) -> list[str]:
        """Per slot: its spend, its holds, their running total, and the previous version's holds
        (redis_scripts.py)."""
        kinds = ("spent", "holds", "rsum", "res")
        return [f"{self._tag}:{kind}:{slot.key}" for slot in slots for kind in kinds]

    async def _call(self, what: str, step: Awaitable[Any]) -> Any:
        try:
            if self._guard is None:
                return await step
            # A settle or release records a call that already happened: tried even while the
            # breaker is open (only requests whose reserve went through get here).
            return await self._guard.run(step, must_try=what in ("settle", "release"))
        except CircuitOpenError as exc:
            # Redis failed just now: refused without touching it (microseconds, not timeouts).
            raise LedgerUnavailableError(f"Redis ledger {what} skipped: {exc.detail}") from exc
        except (RedisError, OSError) as exc:
            # The message names host:port, never the URL (which may carry a password).
            raise LedgerUnavailableError(f"Redis ledger {what} failed: {exc}") from exc

    async def reserve(
        self,
        reservation_id: str,
        amount_nano: int,
        slots: Sequence[Slot],
        now: float,
        expires_at: float,
    ) -> int | None:
        args: list[str | int | float] = [
            repr(max(0.0, expires_at - now)),
            _member(reservation_id, amount_nano),
            amount_nano,
        ]
        for slot in slots:
            args += [slot.limit_nano, _seconds_until(slot.keep_until, now)]
        keys = self._window_keys(slots)
        result = await self._call("reserve", self._reserve(keys=keys, args=args))
        return None if int(result) == 0 else int(result) - 1

    async def settle(
        self,
        reservation_id: str,
        reserved_nano: int,
        actual_nano: int,
        slots: Sequence[Slot],
        now: float,
        remember_until: float,
    ) -> bool:
        keys = [f"{self._tag}:settled", *self._window_keys(slots)]
        args: list[str | int | float] = [
            reservation_id,
            _member(reservation_id, reserved_nano),
            actual_nano,
            _seconds_until(remember_until, now),
            *(_seconds_until(slot.keep_until, now) for slot in slots),
        ]
        result = await self._call("settle", self._settle(keys=keys, args=args))
        return int(result) == 1

    async def release(self, reservation_id: str, reserved_nano: int, slots: Sequence[Slot]) -> None:
        args = [_member(reservation_id, reserved_nano)]
        await self._call("release", self._release(keys=self._window_keys(slots), args=args))

    async def snapshot(self, slots: Sequence[Slot], now: float) -> list[SlotUsage]:
        flat = await self._call(
            "snapshot", self._snapshot(keys=self._window_keys(slots), args=[])
        )
        return [SlotUsage(int(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]

    async def ping(self) -> None:
        await self._call("ping", self._redis.ping())

    def wal_bytes(self) -> int:
        return 0

    async def aclose(self) -> None:
        await self._redis.aclose()


def _member(reservation_id: str, amount_nano: int) -> str:
    return f"{reservation_id}:{amount_nano}"


def _seconds_until(until: float, now: float) -> int:
    """A key's lifetime as a duration (for EXPIRE), both ends read from the caller's clock.
    Redis then counts it down on its own clock: the two clocks never meet."""
    return max(1, math.ceil(until - now))
