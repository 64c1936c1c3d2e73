"""redis-py connections whose writes are bounded by `asyncio.timeout`, not `asyncio.wait_for`.

Why (issue 14, client CPU per paid /ask): redis-py bounds every command's write with
`asyncio.wait_for(write(), socket_timeout)`. On Python 3.11 `wait_for` runs the write in a task
of its own: a task, a timer and two more event-loop turns for every command, although the write
almost never waits (the socket buffer has room; `drain()` returns at once). Measured with the
ledger's scripts against a local redis-server: about a third of the client's CPU per command
(bench/redis_client.py). `asyncio.timeout` bounds the same write in the calling task.

It also ends a bug of that `wait_for`: when the write completes in the same loop turn as a
cancel() of the caller, 3.11's `wait_for` returns normally and the cancellation is lost (see
app/cache/flight_lease.py `raise_if_cancelled`, which stays as a guard for redis-py's other
paths). `asyncio.timeout` delivers the cancellation.

Semantics kept: the same timeout (socket_timeout), the same exceptions (redis TimeoutError /
ConnectionError, so the retry policy and the breaker see what they saw), and the connection is
dropped on any failure, as redis-py does, since half a command may have gone out. One change:
it is aborted, not closed, so the unsent rest of a command we gave up on is never sent later.
Connecting and health checks are redis-py's own. The read side is unchanged (redis-py already
bounds it with `asyncio.timeout`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.resilience.redis_packing import CPacking


class _TimeoutWrite(AbstractConnection):
    __slots__ = ()

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        timeout = self.socket_timeout
        if not timeout:  # unbounded writes: redis-py's own path has no wait_for
            await super().send_packed_command(command, check_health)
            return
        if not self.is_connected:
            await self.connect_check_health(check_health=False)
        if check_health:
            await self.check_health()  # type: ignore[no-untyped-call]
        if isinstance(command, str):
            command = command.encode()
        chunks = [command] if isinstance(command, bytes) else command
        try:
            async with asyncio.timeout(timeout):
                writer: Any = self._writer
                writer.writelines(chunks)
                await writer.drain()
        except TimeoutError:  # before OSError: TimeoutError is one
            await self._drop()
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await self._drop()
            raise RedisConnectionError(f"Error while writing to socket: {exc}") from exc
        except BaseException:
            await self._drop()
            raise

    async def _drop(self) -> None:
        """A write that failed, timed out or was cancelled leaves part of the command in the
        transport's buffer. Abort, not close: close() would still send that rest once the
        server reads again, and the server would run a command we reported as failed."""
        writer: Any = self._writer
        if writer is not None:
            writer.transport.abort()
        await self.disconnect(nowait=True)


# Each also packs its commands in C (redis_packing.py).
class TimeoutWriteConnection(_TimeoutWrite, CPacking, Connection):
    """redis:// (TCP)."""


class TimeoutWriteSSLConnection(_TimeoutWrite, CPacking, SSLConnection):
    """rediss:// (TLS)."""


class TimeoutWriteUnixConnection(_TimeoutWrite, CPacking, UnixDomainSocketConnection):
    """unix:// (a local socket)."""


_REPLACEMENTS: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: TimeoutWriteConnection,
    SSLConnection: TimeoutWriteSSLConnection,
    UnixDomainSocketConnection: TimeoutWriteUnixConnection,
}


def timeout_write_class(chosen: type[AbstractConnection]) -> type[AbstractConnection]:
    """The class to use instead of the one redis-py chose for the URL's scheme (unchanged if it
    is one we do not know)."""
    return _REPLACEMENTS.get(chosen, chosen)
