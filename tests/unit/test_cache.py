from datetime import UTC, datetime

from app.cache import CachedAnswer, MemoryAnswerCache, cache_key, normalise_question
from app.clock import ManualClock
from app.config import CachePolicy
from app.llm.prompt import PROMPT_VERSION


def _entry(clock: ManualClock, text: str = "a") -> CachedAnswer:
    return CachedAnswer(text, "m", ("rb",), clock.now().timestamp())


def test_key_ignores_case_spacing_and_trailing_punctuation() -> None:
    assert normalise_question("  Pod   OOMKilled? ") == "pod oomkilled"
    assert cache_key("Pod OOMKilled?", "m") == cache_key("pod  oomkilled", "m")


def test_a_comparison_is_not_punctuation() -> None:
    """Folding punctuation folded `>` and `<` too: one cache entry for opposite questions."""
    assert cache_key("restarts > 5, what now?", "m") != cache_key("restarts < 5, what now?", "m")
    assert cache_key("status != 200", "m") != cache_key("status == 200", "m")
    assert normalise_question("status <> 200") == normalise_question("status != 200")
    assert normalise_question("p99 >= 2s") == normalise_question("p99 above 2s")
    assert normalise_question("cert-manager -> vault") == "cert manager vault"  # an arrow


def test_key_changes_with_question_and_model() -> None:
    base = cache_key("q", "m")
    assert base != cache_key("q", "other")
    assert base != cache_key("q2", "m")
    assert PROMPT_VERSION  # the version is part of the key material (see cache_key)


async def test_bounded_in_entries_least_recently_used_goes_first() -> None:
    clock = ManualClock()
    cache = MemoryAnswerCache(CachePolicy(max_entries=2), clock)
    await cache.put("a", _entry(clock))
    await cache.put("b", _entry(clock))
    assert await cache.get("a", allow_stale=False) is not None  # a is now most recent
    await cache.put("c", _entry(clock))
    assert len(cache) == 2
    assert await cache.get("b", allow_stale=False) is None
    assert await cache.get("a", allow_stale=False) is not None


async def test_fresh_then_stale_then_gone() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    cache = MemoryAnswerCache(CachePolicy(ttl_seconds=60, stale_ttl_seconds=100), clock)
    await cache.put("k", _entry(clock))
    clock.advance(59.999)
    found = await cache.get("k", allow_stale=False)
    assert found is not None and not found.stale
    clock.advance(0.001)
    assert await cache.get("k", allow_stale=False) is None
    found = await cache.get("k", allow_stale=True)
    assert found is not None and found.stale
    clock.advance(100)
    assert await cache.get("k", allow_stale=True) is None
    assert len(cache) == 0


async def test_shrinking_max_entries_evicts_at_once() -> None:
    clock = ManualClock()
    cache = MemoryAnswerCache(CachePolicy(max_entries=5), clock)
    for i in range(5):
        await cache.put(str(i), _entry(clock))
    cache.configure(CachePolicy(max_entries=1))
    assert len(cache) == 1
    assert await cache.get("4", allow_stale=False) is not None


async def test_redis_cache_serves_this_replicas_answers_while_redis_is_down() -> None:
    from redis.asyncio import Redis

    from app.cache import RedisAnswerCache
    from tests.fakes.service_process import free_port

    clock = ManualClock()
    errors: list[int] = []
    # Nothing listens on this port: every Redis call fails, as in an outage.
    redis = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    cache = RedisAnswerCache(redis, CachePolicy(), clock, on_error=lambda: errors.append(1))
    try:
        await cache.put("k", _entry(clock, "kept locally"))
        found = await cache.get("k", allow_stale=False)
        assert found is not None and found.entry.answer == "kept locally"
        assert await cache.get("other", allow_stale=True) is None
        assert len(errors) == 3  # put, get, get: each failure is counted
    finally:
        await redis.aclose()
