"""Our Redis clients' connections (app/resilience/redis_connection.py) against a real
redis-server: a command runs in the caller's task (no task per write, issue 14), and a write
still ends on the socket timeout or a cancellation and drops its connection, aborted, so the
rest of a command given up on is never sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any

import pytest
import redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.resilience.redis_dependency import redis_client
from tests.fakes.redis_server import RedisServer

# Far more than a loopback socket's buffers (a few MB): a write to a hung server must wait.
BIG_VALUE = b"x" * (64 * 1024 * 1024)


def _connections_received(server: RedisServer) -> int:
    with redis.Redis.from_url(server.url) as admin:
        return int(admin.info("stats")["total_connections_received"])


async def test_a_command_creates_no_task(private_redis_server: RedisServer) -> None:
    """redis-py bounds each write with asyncio.wait_for, which on Python 3.11 wraps the write
    in a task of its own: a task per command on every paid /ask's path."""
    client = redis_client(private_redis_server.url, socket_timeout_seconds=1.0)
    script = client.register_script("return redis.call('GET', KEYS[1])")
    await client.set("k", "v")  # connected, the script's first NOSCRIPT round behind us
    await script(keys=["k"])
    loop = asyncio.get_running_loop()
    created: list[str] = []

    def factory(
        loop: asyncio.AbstractEventLoop,
        coro: Generator[Any, None, Any] | Coroutine[Any, Any, Any],
        **kwargs: Any,
    ) -> asyncio.Task[Any]:
        created.append(getattr(coro, "__qualname__", repr(coro)))
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)
    try:
        for _ in range(10):
            assert await client.get("k") == b"v"
            assert await script(keys=["k"]) == b"v"
    finally:
        loop.set_task_factory(None)
        await client.aclose()
    assert created == []


async def test_a_write_to_a_hung_server_times_out_and_reconnects(
    private_redis_server: RedisServer,
) -> None:
    client = redis_client(private_redis_server.url, socket_timeout_seconds=0.5)
    try:
        await client.ping()
        before = _connections_received(private_redis_server)
        private_redis_server.pause()
        try:
            with pytest.raises(RedisTimeoutError, match="writing"):
                await client.set("big", BIG_VALUE)
        finally:
            private_redis_server.resume()
        assert await client.ping() is True
        # The half-written connection was dropped: the ping came on a new one (+1 for ours),
        # and the rest of the command we gave up on was never sent.
        assert _connections_received(private_redis_server) == before + 2
        assert await client.exists("big") == 0
    finally:
        await client.aclose()


async def test_a_cancelled_write_is_cancelled_at_once_and_drops_its_connection(
    private_redis_server: RedisServer,
) -> None:
    client = redis_client(private_redis_server.url, socket_timeout_seconds=30.0)
    try:
        await client.ping()
        before = _connections_received(private_redis_server)
        private_redis_server.pause()
        try:
            task = asyncio.ensure_future(client.set("big", BIG_VALUE))
            for _ in range(50):  # until the write blocks on the full socket buffer
                await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                async with asyncio.timeout(5):  # far below the 30 s socket timeout
                    await task
        finally:
            private_redis_server.resume()
        assert await client.ping() is True
        assert _connections_received(private_redis_server) == before + 2
        assert await client.exists("big") == 0
    finally:
        await client.aclose()
