"""The semantic tier: a question close in meaning to one already answered reuses its answer.

Entries are bucketed by a context key the caller builds (`app.services.reuse.semantic_bucket`)
from the model, the prompt version, the embedding model and the set of runbooks retrieved: only
questions that retrieved the same runbooks, for the same model and prompt, are ever compared.
Which sections of those runbooks were picked may differ with the wording; on a hit the caller
checks that the stored answer's own sections still stand (`RunbookIndex.has_sections`), so an
edit retires exactly the answers built on what changed. `invalidate` drops a whole bucket (tests
and tools; the pipeline retires entries one by one through `remove`).
Each entry is (answer key = the exact-cache key of the stored answer, question text, float32
L2-normalised vector, stored_at). `find` returns the most similar entry at or above the
threshold that the guard (app/cache/semantic_guard.py) lets share; it also reports the best
similarity seen and the guard's vetoes, so the caller can count and observe them (this module
defines no metric: app/metrics/ does).

Bounded by `semantic_max_entries` (oldest first out, evictions returned to the caller) and by
age: an entry lives as long as an exact-cache answer can be served, `ttl_seconds +
stale_ttl_seconds`. This module is the in-process tier; app/cache/semantic_redis.py the shared one.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from app.cache.semantic_bucket import MAX_GUARD_CHECKS, Bucket, Match, SemanticLookup, Vector
from app.clock import Clock
from app.config import CachePolicy

__all__ = ["BUCKET_MAX", "MAX_GUARD_CHECKS", "Match", "MemorySemanticCache", "SemanticCache",
           "SemanticEntry", "SemanticLookup", "Vector", "best_match", "lifetime_seconds"]
# Entries per bucket. A lookup reads and compares its whole bucket, and a storm of rewordings of
# one question all lands in one bucket: at 10,000 entries in one bucket a lookup took 42 ms in
# process and 300 ms from Redis (bench/results/semantic-cache.md); at 128, about a millisecond.
# More than 128 live rewordings of one question add little: the next one matches one of them.
BUCKET_MAX = 128


@dataclass(frozen=True)
class SemanticEntry:
    answer_key: str
    question: str
    vector: Vector
    stored_at: float  # epoch seconds (wall clock, shared across replicas like the exact tier)


class SemanticCache(Protocol):
    async def find(self, context_key: str, question: str, vector: Vector,
                   threshold: float) -> SemanticLookup: ...
    async def add(self, context_key: str, answer_key: str, question: str,
                  vector: Vector) -> int:
        """Store (or refresh) an entry; returns how many entries were evicted for room."""
        ...
    async def remove(self, context_key: str, answer_key: str) -> None: ...
    async def invalidate(self, context_key: str) -> None:
        """Drop a whole bucket (e.g. its sections changed)."""
        ...
    def configure(self, policy: CachePolicy) -> None: ...
    async def aclose(self) -> None: ...


def lifetime_seconds(policy: CachePolicy) -> float:
    """As long as the exact tier can serve the answer the entry points at (stale included)."""
    return policy.ttl_seconds + policy.stale_ttl_seconds


def best_match(entries: list[SemanticEntry], question: str, vector: Vector,
               threshold: float) -> SemanticLookup:
    """The most similar entry >= threshold that the guard accepts, over a list of entries in
    insertion order (entries of another vector size, i.e. another embedding model, are
    ignored). The tiers keep a `Bucket` instead of building one per lookup."""
    bucket = Bucket()
    for e in entries:
        bucket.put(e.answer_key, e.question, e.vector, e.stored_at)
    return bucket.match(question, vector, threshold)


class MemorySemanticCache:
    """One replica's tier (and the shared tier's fallback while Redis is down)."""

    def __init__(self, policy: CachePolicy, clock: Clock) -> None:
        self._policy = policy
        self._clock = clock
        self._buckets: dict[str, Bucket] = {}  # context key -> its entries
        self._age: OrderedDict[tuple[str, str], None] = OrderedDict()  # oldest first

    def __len__(self) -> int:
        return len(self._age)

    def configure(self, policy: CachePolicy) -> None:
        self._policy = policy
        self._evict()

    def _drop(self, context_key: str, answer_key: str) -> None:
        self._age.pop((context_key, answer_key), None)
        bucket = self._buckets.get(context_key)
        if bucket is not None:
            bucket.drop(answer_key)
            if not bucket:
                del self._buckets[context_key]

    def _evict(self) -> int:
        evicted = 0
        while len(self._age) > self._policy.semantic_max_entries:
            context_key, answer_key = next(iter(self._age))
            self._drop(context_key, answer_key)
            evicted += 1
        return evicted

    async def find(self, context_key: str, question: str, vector: Vector,
                   threshold: float) -> SemanticLookup:
        bucket = self._buckets.get(context_key)
        if bucket is None:
            return SemanticLookup()
        oldest = self._clock.now().timestamp() - lifetime_seconds(self._policy)
        for answer_key in bucket.expire(oldest):  # past their lifetime: the oldest first
            self._age.pop((context_key, answer_key), None)
        if not bucket:
            del self._buckets[context_key]
            return SemanticLookup()
        return bucket.match(question, vector, threshold)

    async def add(self, context_key: str, answer_key: str, question: str,
                  vector: Vector) -> int:
        if self._policy.semantic_max_entries == 0:
            return 0
        bucket = self._buckets.get(context_key)
        if bucket is None:
            bucket = self._buckets[context_key] = Bucket()
        bucket.put(answer_key, question, np.asarray(vector, dtype=np.float32),
                   self._clock.now().timestamp())
        self._age[(context_key, answer_key)] = None
        self._age.move_to_end((context_key, answer_key))
        evicted = 0
        while len(bucket) > BUCKET_MAX:
            oldest = bucket.oldest()
            assert oldest is not None  # the bucket is not empty
            self._drop(context_key, oldest[0])
            evicted += 1
        return evicted + self._evict()

    async def remove(self, context_key: str, answer_key: str) -> None:
        self._drop(context_key, answer_key)

    async def invalidate(self, context_key: str) -> None:
        bucket = self._buckets.pop(context_key, None)
        for answer_key in bucket.keys() if bucket is not None else ():
            self._age.pop((context_key, answer_key), None)

    async def aclose(self) -> None:
        self._buckets.clear()
        self._age.clear()
