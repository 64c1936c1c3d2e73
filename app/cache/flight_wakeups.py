"""Wake-ups for single-flight watchers: ONE pattern subscription per replica to every key's
"done" channel, fanned out to the watchers of this process as asyncio Events.

Why one listener task instead of a subscription per watcher: a watcher is the task of a client
request, and cancelling it (client disconnect) must end it at once; waiting on an Event with a
timeout is plain asyncio, while a read inside redis-py's pub/sub is not (see
flight_lease.raise_if_cancelled for a cancellation redis-py loses). It also costs one Redis
connection per replica, not one per question in flight.

The listener reconnects after a failure (`RETRY_SECONDS`, through the injected sleep); while it
is down, watchers still poll (every lease/4 at most): a lost wake-up costs latency, never an
answer. Every replica receives every wake-up; there is one per finished flight that another
replica watched (flight_lease.py), a few bytes each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from app.cache.flight_lease import FlightLeases, raise_if_cancelled
from app.clock import Sleep

log = logging.getLogger("app.cache.singleflight")

RETRY_SECONDS = 1.0  # between resubscribe attempts after the subscription broke
READY_SECONDS = 0.5  # how long a new watcher waits for the subscription (the socket timeout)
READ_SECONDS = 1.0  # one get_message call: how often the listener looks at its task state
CLOSE_SECONDS = 2.0


class Wakeups:
    def __init__(self, leases: FlightLeases, sleep: Sleep) -> None:
        self._leases = leases
        self._sleep = sleep
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def watched(self, key: str) -> bool:
        return key in self._watchers

    @contextlib.asynccontextmanager
    async def watching(self, key: str) -> AsyncIterator[asyncio.Event]:
        """An Event set whenever `key`'s flight publishes. Subscribed (if Redis allows within
        READY_SECONDS) before it is handed out, so a claim made after this sees either the
        result or, later, the wake-up."""
        event = asyncio.Event()
        self._watchers.setdefault(key, set()).add(event)
        try:
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._listen(), name="single-flight wake-ups")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(READY_SECONDS):  # not wait_for: see singleflight
                    await self._ready.wait()
            yield event
        finally:
            events = self._watchers.get(key, set())
            events.discard(event)
            if not events:
                self._watchers.pop(key, None)

    async def _listen(self) -> None:
        while True:
            pubsub = self._leases.pubsub()
            try:
                await pubsub.psubscribe(self._leases.wakeup_pattern())
                self._ready.set()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=READ_SECONDS)
                    raise_if_cancelled()  # aclose() must stop it (see flight_lease)
                    if message is not None:
                        self._wake(message)
            except (RedisError, OSError) as exc:
                log.warning("single-flight wake-ups unavailable: waiters poll",
                            extra={"fields": {"error": str(exc)}})
            finally:
                self._ready.clear()
                await close(pubsub)
            await self._sleep(RETRY_SECONDS)

    def _wake(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode("utf-8", "replace")
        key = self._leases.key_of(channel) if isinstance(channel, str) else None
        for event in self._watchers.get(key or "", ()):
            event.set()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=CLOSE_SECONDS)


async def close(pubsub: PubSub) -> None:
    """Give the subscription's connection back; a broken one is just dropped."""
    with contextlib.suppress(RedisError, OSError):
        await pubsub.aclose()  # type: ignore[no-untyped-call]
