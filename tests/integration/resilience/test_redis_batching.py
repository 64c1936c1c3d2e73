"""Auto-pipelining (app/resilience/redis_batching.py) against a real redis-server: commands of
one loop turn share one round trip, counted by the server itself (`total_reads_processed`: one
read event per write it receives), and each caller still gets its own reply or error."""

from __future__ import annotations

import asyncio

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from app.resilience.redis_dependency import redis_client
from tests.fakes.redis_server import RedisServer


def _reads(server: RedisServer) -> int:
    with redis.Redis.from_url(server.url) as admin:
        # Our own INFO connection adds its reads: measure it against a baseline of the same.
        return int(admin.info("stats")["total_reads_processed"])


async def test_commands_of_one_loop_turn_share_one_round_trip(
    private_redis_server: RedisServer,
) -> None:
    client = redis_client(private_redis_server.url)
    try:
        await client.ping()  # connected
        idle = _reads(private_redis_server)
        baseline = _reads(private_redis_server) - idle  # the INFO connection's own reads
        before = _reads(private_redis_server)
        replies = await asyncio.gather(*(client.incr(f"n{i % 3}") for i in range(30)))
        used = _reads(private_redis_server) - before - baseline
        assert sorted(replies) == sorted([*range(1, 11)] * 3)  # every caller its own reply
        assert used == 1
        before = _reads(private_redis_server)
        assert await client.get("n0") == b"10"  # a lone command: a round trip of its own
        assert _reads(private_redis_server) - before - baseline == 1
    finally:
        await client.aclose()


async def test_an_error_reply_goes_to_its_caller_only(private_redis_server: RedisServer) -> None:
    client = redis_client(private_redis_server.url)
    try:
        await client.set("text", "x")
        results = await asyncio.gather(client.incr("text"), client.incr("count"),
                                       client.get("text"), return_exceptions=True)
        assert isinstance(results[0], ResponseError)
        assert list(results[1:]) == [1, b"x"]  # gather returns a list
    finally:
        await client.aclose()


async def test_scripts_load_themselves_when_called_together(
    private_redis_server: RedisServer,
) -> None:
    """NOSCRIPT comes back per command, so redis-py's SCRIPT LOAD fallback still works."""
    client = redis_client(private_redis_server.url)
    script = client.register_script("return redis.call('INCR', KEYS[1])")
    try:
        await client.script_flush()
        replies = await asyncio.gather(*(script(keys=["s"]) for _ in range(5)))
        assert sorted(replies) == [1, 2, 3, 4, 5]
    finally:
        await client.aclose()


async def test_a_cancelled_caller_leaves_the_others_their_replies(
    private_redis_server: RedisServer,
) -> None:
    client = redis_client(private_redis_server.url)
    try:
        await client.ping()
        tasks = [asyncio.ensure_future(client.incr("c")) for _ in range(5)]
        await asyncio.sleep(0)  # all five queued in one batch
        tasks[0].cancel()  # the one that sends the batch
        tasks[3].cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(done[0], asyncio.CancelledError)
        assert isinstance(done[3], asyncio.CancelledError)
        replies = [r for r in done if isinstance(r, int)]
        assert len(set(replies)) == 3 and set(replies) <= {1, 2, 3, 4}
        # The sender, cancelled before sending, ran nothing; the other cancelled caller's
        # command had joined the batch and ran with it (the module's documented semantics).
        assert await client.get("c") == b"4"
    finally:
        await client.aclose()


async def test_a_dead_server_fails_every_command_of_the_batch(
    private_redis_server: RedisServer,
) -> None:
    client = redis_client(private_redis_server.url)
    try:
        await client.ping()
        private_redis_server.stop()
        results = await asyncio.gather(*(client.get(f"k{i}") for i in range(4)),
                                       return_exceptions=True)
        assert all(isinstance(r, RedisConnectionError) for r in results), results
        private_redis_server.restart()
        assert await client.get("k0") is None  # and the client heals when it is back
    finally:
        await client.aclose()


@pytest.mark.parametrize("concurrent", [1, 8])
async def test_replies_stay_in_order_under_load(private_redis_server: RedisServer,
                                                concurrent: int) -> None:
    client = redis_client(private_redis_server.url)
    try:
        async def writer(i: int) -> None:
            for n in range(50):
                await client.set(f"w{i}", n)
                assert await client.get(f"w{i}") == str(n).encode()

        await asyncio.gather(*(writer(i) for i in range(concurrent)))
    finally:
        await client.aclose()
