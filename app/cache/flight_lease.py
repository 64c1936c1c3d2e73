"""The cross-replica half of single-flight (singleflight.py): a short Redis lease per key, the
leader's result published to the waiters of other replicas.

Keys (`{<key>}` is a hash tag: one script touches the lease and the result together, so they
must share a Redis Cluster slot):

    <prefix>:lease:{<key>}   <owner token>       SET NX PX lease_ms, renewed every lease/3
    <prefix>:result:{<key>}  b"P" + payload      (b"W" + payload: for the flight's waiters
                                                 only; b"N": nothing to share), PX lease + wait
    <prefix>:watched:{<key>} "1"                 a replica waits on the flight, PX lease_ms
    <prefix>:done:{<key>}    pub/sub channel     "done" / "abandoned", to wake the waiters
                                                 (flight_wakeups.py: one subscription/replica)

A wake-up is published only when another replica watches the flight: a claim that finds the
lease held marks the flight watched (and a watcher's every re-claim, at most lease/4 apart,
keeps the mark alive), and the leader's finish publishes only if the mark is there, in one
script each, so either the finish sees the mark or the claim sees the result. Every replica
that ever watched keeps its subscription (flight_wakeups.py), so a wake-up for every finished
flight would cost each replica a message for every paid answer of the whole deployment; most
flights have no remote watcher. (A replica of the version before the mark watches without
setting it: during a rollout it may be woken by its polls only, later by up to lease/4.)

Every expiry is a duration (PX) run on the Redis server's clock; nothing here sends a time read
from our clock, so a replica whose clock is off (or a test under libfaketime) expires nothing
early or late.

Claiming is one script: "a result is there -> take it; else the lease is free -> take it (and
drop an old result)". So a waiter that sees the lease gone never runs `lead()` again for a
flight whose result was stored in between (the leader stores the result and drops its lease in
one script too). A fresh arrival takes only a b"P" result (an answer the cache would keep: it
missed the cache just before the leader stored it). It ignores an old b"N" (a failed leader
must not make every later ask of the question degrade for the result's lifetime) and an old
b"W" (a truncated or degraded answer, or one refused by the leader's team's budget, is not
served to later asks, which pay from their own team); a waiter of that flight takes either.

Redis failing (error, timeout, the shared breaker open) raises `LeaseUnavailable`: the caller
goes in-process only. This module logs, never raises a Redis error to the ask.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from app.clock import Sleep
from app.config import CachePolicy
from app.errors import CircuitOpenError
from app.resilience.dependency import DependencyGuard, guarded

log = logging.getLogger("app.cache.singleflight")

DEFAULT_PREFIX = "sre-ai:flight"
_FAILURES = (RedisError, OSError, CircuitOpenError)
FIRST_POLL_SECONDS = 0.02  # a waiter's poll backoff starts here, doubling up to lease / 4

_CLAIM = """
local r = redis.call('GET', KEYS[2])
if r and (string.sub(r, 1, 1) == 'P' or ARGV[3] == '1') then return {1, r} end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('DEL', KEYS[2])
  return {2, ''}
end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
return {0, ''}
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_FINISH = """
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if redis.call('DEL', KEYS[3]) == 1 then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return 1
"""


def raise_if_cancelled() -> None:
    """Re-raise a cancellation that redis-py lost. Its connection code awaits asyncio.wait_for,
    which on Python 3.11 returns normally when the awaited send completes in the same loop
    turn as a cancel() of the caller: the request task was cancelled (client gone, a timeout)
    but ran on, watching for up to its whole wait (seen in tests/integration/cache). The
    request stays counted by `Task.cancelling()`, so it is honoured here, after every
    operation."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class LeaseUnavailable(Exception):
    """Redis cannot coordinate this flight: run it in-process only."""


@dataclass(frozen=True)
class Claim:
    """What claiming a key found: another replica's result, the lease (our token), or
    neither (another replica holds the lease)."""

    result: bytes | None = None  # b"P..." / b"N" as stored
    token: str | None = None


class FlightLeases:
    """Leases and results of one Redis server. The client must return bytes
    (decode_responses=False): payloads are opaque bytes."""

    def __init__(
        self,
        redis: Redis,
        policy: CachePolicy,
        *,
        guard: DependencyGuard | None = None,
        prefix: str = DEFAULT_PREFIX,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self._redis = redis
        self._guard = guard
        self._prefix = prefix
        self._on_error = on_error or (lambda: None)
        self._claim = redis.register_script(_CLAIM)
        self._renew = redis.register_script(_RENEW)
        self._finish = redis.register_script(_FINISH)
        self.configure(policy)

    def configure(self, policy: CachePolicy) -> None:
        self.lease_seconds = policy.single_flight_lease_seconds
        self._lease_ms = max(1, round(policy.single_flight_lease_seconds * 1000))
        self._result_ms = self._lease_ms + max(1, round(policy.single_flight_wait_seconds * 1000))

    def _keys(self, key: str) -> list[str]:
        """The lease, the result and the watched mark (the module docstring)."""
        return [f"{self._prefix}:{part}:{{{key}}}" for part in ("lease", "result", "watched")]

    def channel(self, key: str) -> str:
        return f"{self._prefix}:done:{{{key}}}"

    async def _op(self, op: str, operation: Awaitable[Any]) -> Any:
        try:
            result = await guarded(self._guard, operation)
        except _FAILURES as exc:
            if not isinstance(exc, CircuitOpenError):  # the breaker logs its own transitions
                log.warning("single-flight lease unavailable",
                            extra={"fields": {"op": op, "error": str(exc)}})
            self._on_error()
            raise LeaseUnavailable(op) from exc
        raise_if_cancelled()
        return result

    async def claim(self, key: str, *, accept_nothing: bool) -> Claim:
        token = secrets.token_hex(16)
        found, value = await self._op("claim", self._claim(
            keys=self._keys(key), args=[token, self._lease_ms, "1" if accept_nothing else "0"]))
        if int(found) == 1:
            return Claim(result=bytes(value))
        return Claim(token=token) if int(found) == 2 else Claim()

    async def renew(self, key: str, token: str) -> bool:
        """False when the lease is no longer ours (expired and maybe taken over)."""
        return bool(await self._op("renew", self._renew(
            keys=self._keys(key)[:1], args=[token, self._lease_ms])))

    async def finish(self, key: str, token: str, result: bytes | None) -> None:
        """Store `result` (None: abandoned, nothing stored, a waiter takes over at once), drop
        our lease, wake the other replicas' waiters if any watch. Never raises: the waiters
        fall back on the lease expiry."""
        with contextlib.suppress(LeaseUnavailable):
            await self._op("finish", self._finish(keys=self._keys(key), args=[
                token, result or b"", self._result_ms, self.channel(key),
                "done" if result is not None else "abandoned"]))

    async def held(self, key: str) -> bool:
        """Whether some replica holds the key's lease now. Raises LeaseUnavailable."""
        return bool(await self._op("held", self._redis.exists(self._keys(key)[0])))

    def wakeup_pattern(self) -> str:
        """The pub/sub pattern of every key's wake-ups (one subscription per replica)."""
        return f"{self._prefix}:done:*"

    def key_of(self, channel: str) -> str | None:
        """The key a wake-up channel is about (None: not one of ours)."""
        head, tail = f"{self._prefix}:done:{{", "}"
        if channel.startswith(head) and channel.endswith(tail):
            return channel[len(head):-len(tail)]
        return None

    def pubsub(self) -> PubSub:
        return self._redis.pubsub()


async def renew_until_cancelled(
    leases: FlightLeases, key: str, token: str, sleep: Sleep
) -> None:
    """Keep our lease alive while `lead()` runs: every lease/3, compare-and-set on the token."""
    while True:
        await sleep(leases.lease_seconds / 3)
        try:
            if not await leases.renew(key, token):
                log.warning("single-flight lease lost while leading: another replica may "
                            "call too", extra={"fields": {"key": key[:16]}})
                return
        except LeaseUnavailable:
            continue


def poll_interval(previous: float, lease_seconds: float) -> float:
    return min(max(previous * 2, FIRST_POLL_SECONDS), max(lease_seconds / 4, FIRST_POLL_SECONDS))

