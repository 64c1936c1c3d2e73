"""Answer caches: the exact tier (`exact`), keyed by the normalised question; the semantic tier
(`semantic`, `semantic_redis`, guarded by `semantic_guard`) for reworded questions; and
single-flight (`singleflight`, `flight_lease`): concurrent asks of one question pay once."""

from app.cache.exact import (
    AnswerCache,
    CachedAnswer,
    CacheLookup,
    MemoryAnswerCache,
    RedisAnswerCache,
    cache_key,
    normalise_question,
)
from app.cache.flight_lease import FlightLeases
from app.cache.semantic import (
    Match,
    MemorySemanticCache,
    SemanticCache,
    SemanticEntry,
    SemanticLookup,
)
from app.cache.semantic_guard import GUARD_REASONS, GuardReason, Verdict, judge
from app.cache.semantic_redis import RedisSemanticCache
from app.cache.singleflight import Outcome, Role, SingleFlight, WaitersOnly

__all__ = [
    "GUARD_REASONS",
    "AnswerCache",
    "CacheLookup",
    "CachedAnswer",
    "FlightLeases",
    "GuardReason",
    "Match",
    "MemoryAnswerCache",
    "MemorySemanticCache",
    "Outcome",
    "RedisAnswerCache",
    "RedisSemanticCache",
    "Role",
    "SemanticCache",
    "SemanticEntry",
    "SemanticLookup",
    "SingleFlight",
    "Verdict",
    "WaitersOnly",
    "cache_key",
    "judge",
    "normalise_question",
]
