"""The in-process semantic tier: buckets by context, threshold, the guard's vetoes, the bound
in entries (oldest first out) and the age bound, on an injected clock (no sleeping)."""

from __future__ import annotations

import numpy as np
import pytest

from app.cache.semantic import BUCKET_MAX, MemorySemanticCache, Vector
from app.clock import ManualClock
from app.config import CachePolicy
from app.runbooks.embedder import default_embedder

CTX = "claude-sonnet-4-6|v1|sections-a"


def unit(*xs: float) -> Vector:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def cos(a: Vector, b: Vector) -> float:
    return float(a @ b)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def cache(clock: ManualClock) -> MemorySemanticCache:
    return MemorySemanticCache(CachePolicy(semantic_max_entries=3), clock)


async def test_a_close_rewording_in_the_same_bucket_is_a_hit(
        cache: MemorySemanticCache) -> None:
    embed = default_embedder().embed
    first, second = "redis started evicting keys", "Redis is evicting keys"
    v1, v2 = embed([first.lower(), second.lower()])
    await cache.add(CTX, "answer-1", first, v1)
    found = await cache.find(CTX, second, v2, threshold=0.92)
    assert found.match is not None
    assert found.match.answer_key == "answer-1"
    assert found.match.similarity == pytest.approx(cos(v1, v2), abs=1e-6)
    assert found.best_similarity == pytest.approx(found.match.similarity)
    assert found.rejected == ()


async def test_other_sections_or_model_are_another_bucket(cache: MemorySemanticCache) -> None:
    v = unit(1, 0, 0)
    await cache.add(CTX, "answer-1", "pods keep crashing", v)
    other = await cache.find("claude-sonnet-4-6|v1|sections-b", "pods keep crashing", v, 0.9)
    assert other.match is None and other.best_similarity is None


async def test_below_the_threshold_is_a_miss_that_reports_its_similarity(
        cache: MemorySemanticCache) -> None:
    await cache.add(CTX, "answer-1", "pods keep crashing", unit(1, 0, 0))
    query = unit(1, 1, 0)  # cosine 0.707
    found = await cache.find(CTX, "pods keep crashing", query, threshold=0.9)
    assert found.match is None
    assert found.best_similarity == pytest.approx(0.7071, abs=1e-4)
    assert not found.rejected_by_guard
    assert (await cache.find(CTX, "pods keep crashing", query, threshold=0.7)).match is not None


async def test_the_guard_vetoes_a_similar_question_that_asks_the_opposite(
        cache: MemorySemanticCache) -> None:
    v = unit(1, 0, 0)  # similarity 1.0: only the guard stands between them
    await cache.add(CTX, "enable", "how do I enable the circuit breaker", v)
    found = await cache.find(CTX, "how do I disable the circuit breaker", v, threshold=0.9)
    assert found.match is None
    assert found.rejected == ("opposite",)
    assert found.rejected_by_guard
    assert found.best_similarity == pytest.approx(1.0)


async def test_a_vetoed_best_candidate_does_not_hide_an_acceptable_one(
        cache: MemorySemanticCache) -> None:
    await cache.add(CTX, "payments", "payments pod keeps crashing", unit(1, 0, 0))
    await cache.add(CTX, "checkout", "checkout pod keeps crashing", unit(1, 0.2, 0))
    found = await cache.find(CTX, "the checkout pod keeps crashing", unit(1, 0, 0), 0.9)
    assert found.match is not None and found.match.answer_key == "checkout"
    assert found.rejected == ("entity",)
    assert not found.rejected_by_guard


async def test_bounded_in_entries_oldest_first_and_evictions_are_counted(
        cache: MemorySemanticCache) -> None:
    for n in range(3):
        assert await cache.add(f"ctx-{n}", f"a{n}", f"question {n}", unit(1, n, 0)) == 0
    assert await cache.add("ctx-3", "a3", "question 3", unit(1, 3, 0)) == 1
    assert len(cache) == 3
    assert (await cache.find("ctx-0", "question 0", unit(1, 0, 0), 0.5)).match is None
    assert (await cache.find("ctx-1", "question 1", unit(1, 1, 0), 0.5)).match is not None


async def test_re_adding_an_entry_makes_it_the_newest(cache: MemorySemanticCache) -> None:
    for n in range(3):
        await cache.add("ctx", f"a{n}", f"question {n}", unit(1, n, 0))
    await cache.add("ctx", "a0", "question 0", unit(1, 0, 0))
    assert await cache.add("ctx", "a3", "question 3", unit(1, 3, 0)) == 1
    assert (await cache.find("ctx", "question 0", unit(1, 0, 0), 0.99)).match is not None
    assert (await cache.find("ctx", "question 1", unit(1, 1, 0), 0.99)).match is None


async def test_entries_live_as_long_as_the_exact_tier_can_serve_their_answer(
        clock: ManualClock) -> None:
    cache = MemorySemanticCache(CachePolicy(ttl_seconds=60, stale_ttl_seconds=40), clock)
    await cache.add(CTX, "a", "pods keep crashing", unit(1, 0))
    clock.advance(99.999)
    assert (await cache.find(CTX, "pods keep crashing", unit(1, 0), 0.9)).match is not None
    clock.advance(0.001)
    assert (await cache.find(CTX, "pods keep crashing", unit(1, 0), 0.9)).match is None
    assert len(cache) == 0


async def test_shrinking_the_bound_evicts_at_once_and_zero_stores_nothing(
        cache: MemorySemanticCache) -> None:
    for n in range(3):
        await cache.add("ctx", f"a{n}", f"question {n}", unit(1, n, 0))
    cache.configure(CachePolicy(semantic_max_entries=1))
    assert len(cache) == 1
    cache.configure(CachePolicy(semantic_max_entries=0))
    assert await cache.add("ctx", "b", "question b", unit(1, 0, 0)) == 0
    assert len(cache) == 0


async def test_remove_and_invalidate(cache: MemorySemanticCache) -> None:
    await cache.add("ctx", "a", "pods keep crashing", unit(1, 0))
    await cache.add("ctx", "b", "pods crash on boot", unit(1, 0.1))
    await cache.add("other", "c", "pods keep crashing", unit(1, 0))
    await cache.remove("ctx", "a")
    found = await cache.find("ctx", "pods keep crashing", unit(1, 0), 0.9)
    assert found.match is not None and found.match.answer_key == "b"
    await cache.invalidate("ctx")
    assert (await cache.find("ctx", "pods crash on boot", unit(1, 0.1), 0.9)).match is None
    assert (await cache.find("other", "pods keep crashing", unit(1, 0), 0.9)).match is not None
    assert len(cache) == 1


async def test_vectors_of_another_model_size_are_never_compared(
        cache: MemorySemanticCache) -> None:
    await cache.add(CTX, "a", "pods keep crashing", unit(1, 0, 0))
    found = await cache.find(CTX, "pods keep crashing", unit(1, 0), 0.5)
    assert found.match is None and found.best_similarity is None


async def test_a_bucket_holds_at_most_bucket_max_entries_oldest_out(clock: ManualClock) -> None:
    # a storm of rewordings lands in one bucket: a lookup must not scan thousands of vectors
    cache = MemorySemanticCache(CachePolicy(semantic_max_entries=10_000), clock)
    evicted = 0
    for i in range(BUCKET_MAX + 5):
        clock.advance(1)
        evicted += await cache.add(CTX, f"answer-{i}", f"question {i}", unit(1, i, 0))
    assert evicted == 5 and len(cache) == BUCKET_MAX
    for i in range(5):  # the five oldest went
        assert (await cache.find(CTX, f"question {i}", unit(1, i, 0), 0.999)).match is None
    kept = await cache.find(CTX, "question 5", unit(1, 5, 0), threshold=0.999)
    assert kept.match is not None and kept.match.answer_key == "answer-5"
