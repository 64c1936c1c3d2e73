"""Client rate limits (app/ratelimit/): requests checked, refused by which limit, tokens charged,
and decisions taken in-process because the shared Redis failed. No caller label: key names are
as many as the keys file holds, and the log line of each refused request names its caller."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from app.metric_labels import RATE_LIMITS


class RateLimitMetrics:
    def _register_rate_limits(self, r: CollectorRegistry) -> None:
        self.rate_limit_checks = Counter(
            "ai_rate_limit_checks",
            "Requests to a route that can spend (/ask, POST /alerts), checked against their "
            "caller's rate limits.", registry=r,
        )
        self.rate_limited = Counter(
            "ai_rate_limited",
            "Requests refused (429 rate_limited) by a rate limit: requests or tokens per minute.",
            ["limit"], registry=r,
        )
        self.rate_limit_tokens_charged = Counter(
            "ai_rate_limit_tokens_charged",
            "Tokens charged to callers' token buckets after their calls (input, cache writes and "
            "output; cache reads and cached answers are free).", registry=r,
        )
        self.rate_limit_local_decisions = Counter(
            "ai_rate_limit_local_decisions",
            "Rate limit operations done in-process because the shared Redis failed or its "
            "breaker was open (each replica then limits on its own).", registry=r,
        )

    def _init_rate_limits(self) -> None:
        for limit in RATE_LIMITS:
            self.rate_limited.labels(limit=limit)
