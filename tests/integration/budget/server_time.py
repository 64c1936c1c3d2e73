"""Time on the Redis server's clock, the only clock the Redis store expires anything by.

The memory and SQLite stores judge expiry by the caller's clock, which tests move by hand. Redis
cannot be moved (and does not run under libfaketime), so a test that needs a Redis hold to lapse
gives it a short duration and waits until the SERVER's clock has passed it: it polls `TIME`,
and asserts nothing about how long that took.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

POLL_SECONDS = 0.05
GIVE_UP_SECONDS = 60.0


async def server_time(client: Redis) -> float:
    seconds, micros = await client.time()
    return float(seconds) + micros / 1e6


async def let_server_time_pass(url: str, seconds: float) -> None:
    """Return once `seconds` have passed on the Redis server's clock, counted from now."""
    client = Redis.from_url(url)
    try:
        target = await server_time(client) + seconds
        loop = asyncio.get_running_loop()
        give_up = loop.time() + GIVE_UP_SECONDS + seconds
        while await server_time(client) < target:
            if loop.time() > give_up:
                raise TimeoutError(f"the Redis server's clock did not pass {seconds} s")
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await client.aclose()
