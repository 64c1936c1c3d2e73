"""The shared exact-answer tier on a real redis-server: bounded by max_entries, least recently
USED first, like the memory tier (tests/unit/test_cache.py). A question asked all through an
incident must not be evicted by the next max_entries distinct ones."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from app.cache import CachedAnswer, RedisAnswerCache
from app.clock import ManualClock
from app.config import CachePolicy
from tests.fakes.redis_server import RedisServer


def entry(clock: ManualClock, text: str) -> CachedAnswer:
    return CachedAnswer(text, "m", ("rb",), clock.now().timestamp())


async def test_a_read_keeps_an_entry_and_the_least_recently_used_goes_first(
        private_redis_server: RedisServer) -> None:
    clock = ManualClock()
    redis = Redis.from_url(private_redis_server.url)
    cache = RedisAnswerCache(redis, CachePolicy(max_entries=2), clock)
    try:
        assert await cache.put("hot", entry(clock, "asked again and again")) == 0
        clock.advance(1)
        assert await cache.put("once", entry(clock, "asked once")) == 0
        clock.advance(1)
        assert await cache.get("hot", allow_stale=False) is not None  # now the most recent
        clock.advance(1)
        assert await cache.put("new", entry(clock, "a new question")) == 1  # one evicted
        assert await cache.get("once", allow_stale=False) is None
        hot = await cache.get("hot", allow_stale=False)
        assert hot is not None and hot.entry.answer == "asked again and again"
        # A miss adds nothing to the index: the bound still holds after a read of a gone key.
        assert await redis.zcard("sre-ai:{cache}:index") == 2
    finally:
        await redis.aclose()


@pytest.mark.parametrize("stored", [
    b'{"text": "another layout"}',  # a field missing
    b'["a", "list"]',
    b"not json",
    b'{"answer": "a", "model": "m", "sources": ["rb"], "stored_at": 1, "citations": [["x"]]}',
])
async def test_an_unreadable_entry_is_a_counted_miss_not_an_error(
        private_redis_server: RedisServer, stored: bytes) -> None:
    clock = ManualClock()
    errors: list[int] = []
    redis = Redis.from_url(private_redis_server.url)
    cache = RedisAnswerCache(redis, CachePolicy(), clock, on_error=lambda: errors.append(1))
    try:
        await redis.set("sre-ai:{cache}:q", stored)
        assert await cache.get("q", allow_stale=True) is None
        assert errors == [1]
        # the paid answer's put replaces it
        await cache.put("q", entry(clock, "fresh"))
        found = await cache.get("q", allow_stale=False)
        assert found is not None and found.entry.answer == "fresh"
    finally:
        await redis.aclose()
