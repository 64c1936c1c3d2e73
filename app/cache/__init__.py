"""Answer caches: the exact tier (`exact`), keyed by the normalised question."""

from app.cache.exact import (
    AnswerCache,
    CachedAnswer,
    CacheLookup,
    MemoryAnswerCache,
    RedisAnswerCache,
    cache_key,
    normalise_question,
)

__all__ = [
    "AnswerCache",
    "CacheLookup",
    "CachedAnswer",
    "MemoryAnswerCache",
    "RedisAnswerCache",
    "cache_key",
    "normalise_question",
]
