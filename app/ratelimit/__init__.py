"""Client rate limits: requests and tokens per minute per API key (issue 17).

gcra.py is the arithmetic, memory.py the in-process store, redis_scripts.py and redis_store.py
the shared one, limiter.py the decision against the live policy with its fail-open fallback.
The HTTP side (the gate dependency and the X-RateLimit-* headers) is app/api/rate_limit.py.
docs/architecture.md ("Rate limits")."""

from app.ratelimit.gcra import Decision, Quota
from app.ratelimit.limiter import RateLimiter
from app.ratelimit.redis_store import RedisRateStore

__all__ = ["Decision", "Quota", "RateLimiter", "RedisRateStore"]
