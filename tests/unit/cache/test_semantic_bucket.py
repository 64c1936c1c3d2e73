"""A semantic bucket's lookup, expiry and eviction do Python work that does not grow with the
bucket (issue 14: the tier is on every paid question's path), with the semantics of a list in
insertion order kept: ties by first insertion, oldest by stored_at out first, removals in the
middle leave the others intact. Work is counted in Python steps (tests/unit/cache/python_steps.py),
never timed."""

from __future__ import annotations

import numpy as np
import pytest

from app.cache.semantic import BUCKET_MAX, MAX_GUARD_CHECKS, MemorySemanticCache, Vector
from app.cache.semantic_bucket import Bucket
from app.clock import ManualClock
from app.config import CachePolicy
from tests.unit.cache.python_steps import async_steps

CTX = "bucket"


def unit(*xs: float) -> Vector:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def random_vectors(n: int, dim: int = 64, seed: int = 7) -> list[Vector]:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, dim)).astype(np.float32)
    return list(m / np.linalg.norm(m, axis=1, keepdims=True))


async def filled(size: int, clock: ManualClock) -> MemorySemanticCache:
    cache = MemorySemanticCache(CachePolicy(semantic_max_entries=10_000), clock)
    for i, v in enumerate(random_vectors(size)):
        clock.advance(1)
        await cache.add(CTX, f"k{i}", f"question {i}", v)
    return cache


@pytest.mark.parametrize("threshold", [0.99, -1.0])  # a miss; a storm of candidates
async def test_a_lookup_does_the_same_python_work_at_1_and_at_bucket_max_entries(
        threshold: float) -> None:
    """It used to stack every entry's vector (np.stack: a Python loop over the bucket), scan
    every entry for its age and filter the bucket by vector size on each lookup."""
    query = random_vectors(1, seed=99)[0]
    counts = []
    for size in (MAX_GUARD_CHECKS, 32, BUCKET_MAX):  # the guard checks at most 8 either way
        cache = await filled(size, ManualClock())
        await cache.find(CTX, "another question", query, threshold)  # warm the guard's memo
        n, found = await async_steps(lambda c=cache: c.find(  # type: ignore[misc]
            CTX, "another question", query, threshold))
        assert found.best_similarity is not None
        counts.append(n)
    assert counts[0] == counts[1] == counts[2], counts


async def test_adding_to_a_full_bucket_evicts_the_oldest_without_scanning_it() -> None:
    """It used to take min() over the bucket's entries (a key function call per entry)."""
    clock = ManualClock()
    cache = await filled(BUCKET_MAX - 1, clock)
    extra = random_vectors(2, seed=5)
    not_full, evicted = await async_steps(lambda: cache.add(CTX, "new-1", "new 1", extra[0]))
    assert evicted == 0
    full, evicted = await async_steps(lambda: cache.add(CTX, "new-2", "new 2", extra[1]))
    assert evicted == 1
    assert full - not_full < BUCKET_MAX, (full, not_full)  # less than a step per entry
    gone = await cache.find(CTX, "question 0", random_vectors(BUCKET_MAX - 1)[0], 0.999)
    assert gone.match is None  # the oldest went
    kept = await cache.find(CTX, "question 1", random_vectors(BUCKET_MAX - 1)[1], 0.999)
    assert kept.match is not None and kept.match.answer_key == "k1"


async def test_expiry_drops_the_old_entries_and_only_them() -> None:
    clock = ManualClock()
    cache = MemorySemanticCache(CachePolicy(semantic_max_entries=100, ttl_seconds=10,
                                            stale_ttl_seconds=0), clock)
    vs = random_vectors(6)
    for i, v in enumerate(vs):
        await cache.add(CTX, f"k{i}", f"question {i}", v)
        clock.advance(1)  # k0 at 0 s ... k5 at 5 s; now 6 s
    await cache.add(CTX, "k0", "question 0", vs[0])  # refreshed: stored at 6 s
    clock.advance(5.5)  # 11.5 s: k1 (1 s) is 10 s old or more, k2 (2 s) is not
    assert (await cache.find(CTX, "question 1", vs[1], 0.999)).match is None
    assert len(cache) == 5
    for i in (0, 2, 3, 4, 5):
        found = await cache.find(CTX, f"question {i}", vs[i], 0.999)
        assert found.match is not None and found.match.answer_key == f"k{i}"


def test_ties_go_to_the_first_inserted_and_a_refresh_keeps_its_place() -> None:
    bucket = Bucket()
    v = unit(1, 0, 0)
    for i, t in enumerate((3.0, 1.0, 2.0)):
        bucket.put(f"k{i}", "pods keep crashing", v, t)
    bucket.put("k0", "pods keep crashing", v, 9.0)  # refreshed: still first among ties
    found = bucket.match("pods keep crashing", v, 0.9)
    assert found.match is not None and found.match.answer_key == "k0"
    assert bucket.oldest() == ("k1", 1.0)  # by stored_at, whatever the insertion order


def test_a_removal_in_the_middle_keeps_every_other_entry_whole() -> None:
    bucket = Bucket()
    vs = random_vectors(5)
    for i, v in enumerate(vs):
        bucket.put(f"k{i}", f"question {i}", v, float(i))
    assert bucket.drop("k1") and not bucket.drop("k1")
    assert len(bucket) == 4 and "k1" not in bucket
    for i in (0, 2, 3, 4):
        found = bucket.match(f"question {i}", vs[i], 0.999)
        assert found.match is not None
        assert (found.match.answer_key, found.match.question) == (f"k{i}", f"question {i}")
        assert found.match.similarity == pytest.approx(1.0, abs=1e-6)
    assert bucket.match("question 1", vs[1], 0.999).match is None
    assert bucket.expire(2.0) == ["k0", "k2"] and len(bucket) == 2


def test_the_best_candidates_match_a_plain_ranking_of_the_whole_bucket() -> None:
    """The matrix is kept in place across adds, refreshes and removals: its ranking is the one
    a fresh list of the live entries gives."""
    bucket = Bucket()
    vs = random_vectors(40, dim=8)
    live: dict[str, Vector] = {}
    for i, v in enumerate(vs):
        bucket.put(f"k{i}", f"question {i}", v, float(i))
        live[f"k{i}"] = v
        if i % 3 == 2:
            bucket.drop(f"k{i - 1}")
            del live[f"k{i - 1}"]
    query = random_vectors(1, dim=8, seed=3)[0]
    sims = {k: float(v @ query) for k, v in live.items()}
    best = max(sims, key=lambda k: sims[k])
    found = bucket.match(f"question {best.removeprefix('k')}", query, sims[best] - 1e-6)
    assert found.match is not None and found.match.answer_key == best
    assert found.best_similarity == pytest.approx(sims[best], abs=1e-6)


def test_the_heap_of_ages_stays_bounded_under_refreshes() -> None:
    bucket = Bucket()
    v = unit(1, 0)
    for t in range(1000):
        bucket.put("k", "q", v, float(t))
        bucket.put("same", "q", v, 5.0)  # refreshed within one tick of the clock
    assert len(bucket._age) <= 2 * len(bucket) + 16
    assert bucket.oldest() == ("same", 5.0)
    assert bucket.expire(5.0) == ["same"] and bucket.oldest() == ("k", 999.0)


def test_a_drained_bucket_gives_its_rows_back() -> None:
    """A storm fills a bucket to BUCKET_MAX rows; the global bound later takes its entries one
    by one: the matrix shrinks with them (a thousand such buckets must not keep 128 rows each)."""
    bucket = Bucket()
    vs = random_vectors(BUCKET_MAX)
    for i, v in enumerate(vs):
        bucket.put(f"k{i}", f"question {i}", v, float(i))
    assert bucket.expire(float(BUCKET_MAX - 4)) == [f"k{i}" for i in range(BUCKET_MAX - 3)]
    rows = bucket._by_size[vs[0].shape[0]]
    assert len(rows.keys) == 3 and rows.matrix.shape[0] <= 16
    for i in range(BUCKET_MAX - 3, BUCKET_MAX):
        found = bucket.match(f"question {i}", vs[i], 0.999)
        assert found.match is not None and found.match.answer_key == f"k{i}"
