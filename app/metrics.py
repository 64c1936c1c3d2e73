"""Every Prometheus instrument of the service, in one place, against an injectable registry.

Label values are bounded: `endpoint` is a route template (or "unmatched"), `model` comes from the
policy's allowlist (or "offline"), `status` is a numeric code, the rest are small enums listed
below. Tests build `Metrics(CollectorRegistry())` and read samples with `get_sample_value`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60)
UPSTREAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 45, 60)

TOKEN_DIRECTIONS = ("input", "output", "cache_read", "cache_write")
CACHE_RESULTS = ("hit", "stale_hit", "miss", "store", "error")
DEGRADED_MODES = ("fallback_model", "cached", "stale_cache", "offline")
BREAKER_STATES = ("closed", "open", "half_open")
UPSTREAM_OUTCOMES = (
    "success",
    "timeout",
    "connection",
    "rate_limited",
    "overloaded",
    "server_error",
    "bad_request",
    "auth",
)
BUDGET_WINDOWS = ("hourly", "daily", "monthly")
REJECTION_WINDOWS = ("per_request", *BUDGET_WINDOWS)
RATELIMIT_KINDS = ("requests", "tokens", "input_tokens", "output_tokens")
CONFIG_KINDS = ("policy", "runbooks", "api_keys")
RUNBOOK_SKIP_REASONS = ("too_large", "not_utf8", "unreadable", "no_headings", "bad_front_matter")
EMBEDDING_SOURCES = ("model", "cache")


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry

        # --- HTTP (the seed's names)
        self.requests = Counter(
            "ai_requests", "HTTP requests by route template and status code.",
            ["endpoint", "status"], registry=r,
        )
        self.request_seconds = Histogram(
            "ai_request_seconds", "HTTP request latency by route template.",
            ["endpoint"], buckets=REQUEST_BUCKETS, registry=r,
        )
        self.active_requests = Gauge(
            "ai_active_requests", "HTTP requests being served now (excludes /metrics).", registry=r
        )

        # --- answers
        self.tokens = Counter(
            "ai_tokens", "LLM tokens by model and direction (input excludes cached tokens).",
            ["model", "direction"], registry=r,
        )
        self.cost_usd = Counter(
            "ai_cost_usd", "Settled LLM spend in USD by model.", ["model"], registry=r
        )
        self.cache_ops = Counter(
            "ai_cache_ops", "Answer cache operations by result.", ["result"], registry=r
        )
        self.no_answer = Counter(
            "ai_no_answer", "Questions the runbooks could not answer.", registry=r
        )
        self.answers = Counter(
            "ai_answers", "Answers served to /ask, by the model that produced them.",
            ["model"], registry=r,
        )
        self.agent_iterations = Histogram(
            "ai_agent_iterations", "LLM round trips per answered question.",
            buckets=(0, 1, 2, 3, 5, 8), registry=r,
        )
        self.degraded = Counter(
            "ai_degraded_responses", "Answers served from a lower rung of the ladder, by rung.",
            ["mode"], registry=r,
        )
        self.service_info = Info("ai_service", "Service build and provider.", registry=r)

        # --- upstream (Anthropic API)
        self.upstream_requests = Counter(
            "ai_upstream_requests", "Calls to the LLM API by model and outcome.",
            ["model", "outcome"], registry=r,
        )
        self.upstream_seconds = Histogram(
            "ai_upstream_request_seconds", "LLM API call latency by model.",
            ["model"], buckets=UPSTREAM_BUCKETS, registry=r,
        )
        self.ratelimit_remaining = Gauge(
            "ai_upstream_ratelimit_remaining",
            "Remaining quota from anthropic-ratelimit-*-remaining headers.",
            ["model", "kind"], registry=r,
        )
        self.ratelimit_limit = Gauge(
            "ai_upstream_ratelimit_limit",
            "Quota from anthropic-ratelimit-*-limit headers.",
            ["model", "kind"], registry=r,
        )

        # --- circuit breaker
        self.breaker_state = Gauge(
            "ai_circuit_breaker_state", "1 for the breaker's current state, 0 for the others.",
            ["model", "state"], registry=r,
        )
        self.breaker_transitions = Counter(
            "ai_circuit_breaker_transitions", "Breaker state changes.",
            ["model", "from_state", "to_state"], registry=r,
        )
        self.breaker_not_permitted = Counter(
            "ai_circuit_breaker_not_permitted_calls",
            "Calls the breaker refused (open, or half-open trials used up).",
            ["model"], registry=r,
        )

        # --- money (gauges are refreshed from the shared ledger, so replicas agree)
        self.budget_limit = Gauge(
            "ai_budget_limit_usd", "Budget limit per window.", ["window"], registry=r
        )
        self.budget_spent = Gauge(
            "ai_budget_spent_usd", "Settled spend in the current window.", ["window"], registry=r
        )
        self.budget_reserved = Gauge(
            "ai_budget_reserved_usd", "Reserved, not yet settled, in the current window.",
            ["window"], registry=r,
        )
        self.budget_remaining = Gauge(
            "ai_budget_remaining_usd", "Limit minus spent minus reserved.", ["window"], registry=r
        )
        self.budget_rejections = Counter(
            "ai_budget_rejections", "Paid calls refused by the budget, by window.",
            ["window"], registry=r,
        )
        self.reservations_outstanding = Gauge(
            "ai_budget_reservations_outstanding",
            "Reservations this process holds that are not settled or released yet.", registry=r,
        )
        self.ledger_errors = Counter(
            "ai_ledger_errors", "Ledger operations that failed (store unreachable).",
            ["operation"], registry=r,
        )

        # --- configuration
        self.config_reloads = Counter(
            "ai_config_reloads", "Configuration reloads by kind and result.",
            ["kind", "result"], registry=r,
        )
        self.config_info = Gauge(
            "ai_config_info", "1 for the active configuration generation and content hash.",
            ["kind", "generation", "hash"], registry=r,
        )
        self.runbooks_loaded = Gauge(
            "ai_runbooks_loaded", "Runbooks in the active index.", registry=r
        )
        self.runbooks_skipped = Gauge(
            "ai_runbooks_skipped", "Runbook files the last load skipped, by reason.",
            ["reason"], registry=r,
        )
        self.runbooks_index_seconds = Gauge(
            "ai_runbooks_index_build_seconds",
            "Wall time of the last runbook index build (load, embed, index).", registry=r,
        )
        self.runbooks_embedded = Counter(
            "ai_runbooks_embedded",
            "Runbooks whose embeddings were computed by the model or read from the cache.",
            ["source"], registry=r,
        )

        self._active_config: dict[str, tuple[str, str]] = {}
        self._initialise_known_series()

    def _initialise_known_series(self) -> None:
        """Known label sets start at 0 so rate() and absent() work from the first scrape."""
        for result in CACHE_RESULTS:
            self.cache_ops.labels(result=result)
        for mode in DEGRADED_MODES:
            self.degraded.labels(mode=mode)
        for window in REJECTION_WINDOWS:
            self.budget_rejections.labels(window=window)
        for kind in CONFIG_KINDS:
            for result in ("success", "error"):
                self.config_reloads.labels(kind=kind, result=result)
        for op in ("reserve", "settle", "release", "snapshot"):
            self.ledger_errors.labels(operation=op)
        for reason in RUNBOOK_SKIP_REASONS:
            self.runbooks_skipped.labels(reason=reason)
        for source in EMBEDDING_SOURCES:
            self.runbooks_embedded.labels(source=source)

    def init_model(self, model: str) -> None:
        """Create a model's series at 0 (called for each model in the active policy)."""
        for direction in TOKEN_DIRECTIONS:
            self.tokens.labels(model=model, direction=direction)
        self.cost_usd.labels(model=model)
        for outcome in UPSTREAM_OUTCOMES:
            self.upstream_requests.labels(model=model, outcome=outcome)
        self.breaker_not_permitted.labels(model=model)

    def set_breaker_state(self, model: str, state: str) -> None:
        for s in BREAKER_STATES:
            self.breaker_state.labels(model=model, state=s).set(1 if s == state else 0)

    def set_config_info(self, kind: str, generation: int, digest: str) -> None:
        """Keep exactly one series per kind: the active generation."""
        previous = self._active_config.pop(kind, None)
        if previous is not None:
            self.config_info.remove(kind, *previous)
        self._active_config[kind] = (str(generation), digest)
        self.config_info.labels(kind=kind, generation=str(generation), hash=digest).set(1)
