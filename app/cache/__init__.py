"""Answer caches: the exact tier (`exact`), keyed by the normalised question, and the semantic
tier (`semantic`, `semantic_redis`, guarded by `semantic_guard`) for reworded questions."""

from app.cache.exact import (
    AnswerCache,
    CachedAnswer,
    CacheLookup,
    MemoryAnswerCache,
    RedisAnswerCache,
    cache_key,
    normalise_question,
)
from app.cache.semantic import (
    Match,
    MemorySemanticCache,
    SemanticCache,
    SemanticEntry,
    SemanticLookup,
)
from app.cache.semantic_guard import GUARD_REASONS, GuardReason, Verdict, judge
from app.cache.semantic_redis import RedisSemanticCache

__all__ = [
    "GUARD_REASONS",
    "AnswerCache",
    "CacheLookup",
    "CachedAnswer",
    "GuardReason",
    "Match",
    "MemoryAnswerCache",
    "MemorySemanticCache",
    "RedisAnswerCache",
    "RedisSemanticCache",
    "SemanticCache",
    "SemanticEntry",
    "SemanticLookup",
    "Verdict",
    "cache_key",
    "judge",
    "normalise_question",
]
