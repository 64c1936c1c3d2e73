"""Answer caches: the exact tier (`exact`), keyed by the normalised question; single-flight
(`singleflight`, `flight_lease`): concurrent asks of one question pay once."""

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
from app.cache.singleflight import Outcome, Role, SingleFlight

__all__ = [
    "AnswerCache",
    "CacheLookup",
    "CachedAnswer",
    "FlightLeases",
    "MemoryAnswerCache",
    "Outcome",
    "RedisAnswerCache",
    "Role",
    "SingleFlight",
    "cache_key",
    "normalise_question",
]
