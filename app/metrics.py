"""Every Prometheus instrument of the service, in one place, against an injectable registry.

Label values are bounded: `endpoint` is a route template (or "unmatched"), `model` comes from the
policy's allowlist (or "offline"), `status` is a numeric code, the rest are small enums listed
in app/metric_labels.py. Tests build `Metrics(CollectorRegistry())` and read samples with
`get_sample_value`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from app.metric_labels import (
    ALERT_ANSWER_MODES,
    ALERT_CAPS,
    ALERT_DELIVERY_ATTEMPT_RESULTS,
    ALERT_DELIVERY_BUCKETS,
    ALERT_DELIVERY_OUTCOMES,
    ALERT_STATUSES,
    AUTH_STATES,
    BREAKER_EDGES,
    BREAKER_STATES,
    CACHE_OUTCOMES,
    CACHE_RESULTS,
    CACHE_TIERS,
    CONFIG_KINDS,
    DEGRADED_MODES,
    DEPENDENCIES,
    DEPENDENCY_OUTCOMES,
    EMBEDDING_SOURCES,
    ESTIMATE_REASONS,
    REJECTION_WINDOWS,
    REQUEST_BUCKETS,
    RETRIEVAL_BUCKETS,
    RUNBOOK_SKIP_REASONS,
    SEMANTIC_VETOES,
    SIMILARITY_BUCKETS,
    SPOOL_REPLAY_RESULTS,
    SPOOL_WRITE_RESULTS,
    TOKEN_DIRECTIONS,
    UPSTREAM_BUCKETS,
    UPSTREAM_OUTCOMES,
)


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
            "ai_cost_usd", "Settled LLM spend in USD by model (estimated settlements included).",
            ["model"], registry=r,
        )
        self.cost_estimated_usd = Counter(
            "ai_cost_estimated_usd",
            "The part of ai_cost_usd_total settled at the reserved worst case (no usage came "
            "back: timeout after sending, connection dropped, client gone), by model.",
            ["model"], registry=r,
        )
        self.estimated_settlements = Counter(
            "ai_estimated_settlements",
            "Paid calls settled at their reserved worst case, by model and reason.",
            ["model", "reason"], registry=r,
        )
        self.truncated_answers = Counter(
            "ai_truncated_answers",
            "Answers cut at max_tokens (stop_reason max_tokens); never cached.", ["model"],
            registry=r,
        )
        self.cache_ops = Counter(
            "ai_cache_ops", "Exact answer cache operations by result.", ["result"], registry=r
        )
        self.cache_lookups = Counter(
            "ai_cache_lookups", "Answerable questions by how the caches served them: exact, "
            "semantic or coalesced (waited for an identical question in flight), or miss.",
            ["outcome"], registry=r,
        )
        self.cache_saved_usd = Counter(
            "ai_cache_saved_usd", "USD not spent thanks to the caches: the price of the call "
            "that produced the reused answer, by hit kind.", ["kind"], registry=r,
        )
        self.cache_evictions = Counter(
            "ai_cache_evictions", "Entries evicted to stay within the policy bound, by tier.",
            ["tier"], registry=r,
        )
        self.semantic_rejected = Counter(
            "ai_semantic_cache_rejected", "Semantic candidates above the threshold the guard "
            "vetoed (they would be wrong answers), by reason.", ["reason"], registry=r,
        )
        self.semantic_similarity = Histogram(
            "ai_semantic_cache_similarity", "Cosine similarity of semantic cache hits.",
            buckets=SIMILARITY_BUCKETS, registry=r,
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
        self.breaker_hold = Gauge(
            "ai_circuit_breaker_retry_after_hold_seconds",
            "Seconds until the upstream's retry-after hold on a model ends (0: none). Calls to "
            "a held model are refused whatever the breaker state.",
            ["model"], registry=r,
        )
        self.breaker_not_permitted = Counter(
            "ai_circuit_breaker_not_permitted_calls",
            "Calls the breaker refused (open, or half-open trials used up).",
            ["model"], registry=r,
        )

        # --- shared dependencies (Redis): their own breaker, so an outage costs no timeouts
        self.dependency_breaker_state = Gauge(
            "ai_dependency_breaker_state",
            "1 for the dependency breaker's current state, 0 for the others.",
            ["dependency", "state"], registry=r,
        )
        self.dependency_breaker_transitions = Counter(
            "ai_dependency_breaker_transitions", "Dependency breaker state changes.",
            ["dependency", "from_state", "to_state"], registry=r,
        )
        self.dependency_calls = Counter(
            "ai_dependency_calls",
            "Operations that reached the dependency, by outcome (failure: connection error or "
            "timeout).",
            ["dependency", "outcome"], registry=r,
        )
        self.dependency_short_circuited = Counter(
            "ai_dependency_short_circuited_calls",
            "Operations the dependency's breaker refused without touching the dependency.",
            ["dependency"], registry=r,
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

        # --- settle spool (pod-local: spend the ledger could not take, waiting on disk)
        self.settle_spool_depth = Gauge(
            "ai_settle_spool_depth",
            "Settlements this pod spooled because the ledger was unreachable, not replayed yet.",
            registry=r,
        )
        self.settle_spool_writes = Counter(
            "ai_settle_spool_writes",
            "Settlements written to the spool (spooled) or lost to the log (failed).",
            ["result"], registry=r,
        )
        self.settle_spool_replays = Counter(
            "ai_settle_spool_replays",
            "Spooled settlements replayed into the ledger (settled) or attempts that failed.",
            ["result"], registry=r,
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
        self.retrieval_seconds = Histogram(
            "ai_retrieval_seconds", "Runbook search time per question (worker thread; an "
            "exact cache hit does not search).", buckets=RETRIEVAL_BUCKETS, registry=r,
        )
        self.runbooks_embedded = Counter(
            "ai_runbooks_embedded",
            "Runbooks whose embeddings were computed by the model or read from the cache.",
            ["source"], registry=r,
        )

        # --- the Alertmanager receiver (app/services/alerts.py). errors pairs with received.
        self.alerts_received = Counter(
            "ai_alerts_received", "Alerts received from Alertmanager, by status.", ["status"],
            registry=r)
        self.alerts_answered = Counter(
            "ai_alerts_answered", "Firing alerts answered, by mode (duplicate: already answered, "
            "$0).", ["mode"], registry=r)
        self.alerts_capped = Counter(
            "ai_alerts_capped", "Alerts answered with runbook excerpts because a storm cap on "
            "paid answers was reached, by cap.", ["cap"], registry=r)
        self.alert_errors = Counter(
            "ai_alert_errors", "Firing alerts not answered: the pipeline failed or the answer "
            "queue was full.",
            registry=r)

        # --- client authentication (app/api_keys.py)
        self.api_keys_loaded = Gauge(
            "ai_api_keys_loaded", "Client API keys in effect (inline and file).", registry=r
        )
        self.auth_state = Gauge(
            "ai_auth_state",
            "1 for the API-key check's state: open (no key source configured), enforced, "
            "deny_all (a key source is configured but yields no keys: protected routes 503).",
            ["state"], registry=r,
        )

        # --- alert answers delivered to the configured webhook (app/alerts/delivery.py)
        self.alert_deliveries = Counter(
            "ai_alert_deliveries", "Alert answers handed to the delivery webhook, by how they "
            "ended: delivered, or dead_letter (queue full, rejected, attempts used up, shutdown).",
            ["outcome"], registry=r,
        )
        self.alert_delivery_attempts = Counter(
            "ai_alert_delivery_attempts", "POSTs to the delivery webhook by result: success, "
            "retryable (429, 5xx, timeout, connection) or rejected (other 4xx: not retried).",
            ["result"], registry=r,
        )
        self.alert_delivery_seconds = Histogram(
            "ai_alert_delivery_attempt_seconds", "Latency of one POST to the delivery webhook.",
            buckets=ALERT_DELIVERY_BUCKETS, registry=r,
        )
        self.alert_delivery_queue_depth = Gauge(
            "ai_alert_delivery_queue_depth", "Alert answers waiting for the delivery webhook.",
            registry=r,
        )

        self._active_config: dict[str, tuple[str, str]] = {}
        self._initialise_known_series()

    def _initialise_known_series(self) -> None:
        """Known label sets start at 0 so rate() and absent() work from the first scrape."""
        for result in CACHE_RESULTS:
            self.cache_ops.labels(result=result)
        for outcome in CACHE_OUTCOMES:
            self.cache_lookups.labels(outcome=outcome)
        for kind in CACHE_OUTCOMES[:-1]:
            self.cache_saved_usd.labels(kind=kind)
        for tier in CACHE_TIERS:
            self.cache_evictions.labels(tier=tier)
        for reason in SEMANTIC_VETOES:
            self.semantic_rejected.labels(reason=reason)
        for mode in DEGRADED_MODES:
            self.degraded.labels(mode=mode)
        for window in REJECTION_WINDOWS:
            self.budget_rejections.labels(window=window)
        for kind in CONFIG_KINDS:
            for result in ("success", "error"):
                self.config_reloads.labels(kind=kind, result=result)
        for result in SPOOL_WRITE_RESULTS:
            self.settle_spool_writes.labels(result=result)
        for result in SPOOL_REPLAY_RESULTS:
            self.settle_spool_replays.labels(result=result)
        for op in ("reserve", "settle", "release", "snapshot"):
            self.ledger_errors.labels(operation=op)
        # Counters only: with no Redis configured they stay 0 (and AIRedisUnavailable quiet);
        # the state gauge appears when a guard is built.
        for dependency in DEPENDENCIES:
            self.init_dependency(dependency)
        for reason in RUNBOOK_SKIP_REASONS:
            self.runbooks_skipped.labels(reason=reason)
        for source in EMBEDDING_SOURCES:
            self.runbooks_embedded.labels(source=source)
        for status in ALERT_STATUSES:
            self.alerts_received.labels(status=status)
        for mode in ALERT_ANSWER_MODES:
            self.alerts_answered.labels(mode=mode)
        for cap in ALERT_CAPS:
            self.alerts_capped.labels(cap=cap)
        for outcome in ALERT_DELIVERY_OUTCOMES:
            self.alert_deliveries.labels(outcome=outcome)
        for result in ALERT_DELIVERY_ATTEMPT_RESULTS:
            self.alert_delivery_attempts.labels(result=result)

    def init_model(self, model: str) -> None:
        """Create a model's series at 0 (called for each model in the active policy)."""
        for direction in TOKEN_DIRECTIONS:
            self.tokens.labels(model=model, direction=direction)
        self.cost_usd.labels(model=model)
        self.cost_estimated_usd.labels(model=model)
        for reason in ESTIMATE_REASONS:
            self.estimated_settlements.labels(model=model, reason=reason)
        self.truncated_answers.labels(model=model)
        for outcome in UPSTREAM_OUTCOMES:
            self.upstream_requests.labels(model=model, outcome=outcome)
        self.breaker_not_permitted.labels(model=model)
        self.breaker_hold.labels(model=model)

    def init_dependency(self, dependency: str) -> None:
        """Create a guarded dependency's counters at 0 (when its guard is built)."""
        for outcome in DEPENDENCY_OUTCOMES:
            self.dependency_calls.labels(dependency=dependency, outcome=outcome)
        self.dependency_short_circuited.labels(dependency=dependency)
        for from_state, to_state in BREAKER_EDGES:
            self.dependency_breaker_transitions.labels(
                dependency=dependency, from_state=from_state, to_state=to_state
            )

    def set_dependency_state(self, dependency: str, state: str) -> None:
        for s in BREAKER_STATES:
            self.dependency_breaker_state.labels(dependency=dependency, state=s).set(
                1 if s == state else 0
            )

    def set_breaker_state(self, model: str, state: str) -> None:
        for s in BREAKER_STATES:
            self.breaker_state.labels(model=model, state=s).set(1 if s == state else 0)

    def set_auth_state(self, state: str, loaded: int) -> None:
        for s in AUTH_STATES:
            self.auth_state.labels(state=s).set(1 if s == state else 0)
        self.api_keys_loaded.set(loaded)

    def set_config_info(self, kind: str, generation: int, digest: str) -> None:
        """Keep exactly one series per kind: the active generation."""
        previous = self._active_config.pop(kind, None)
        if previous is not None:
            self.config_info.remove(kind, *previous)
        self._active_config[kind] = (str(generation), digest)
        self.config_info.labels(kind=kind, generation=str(generation), hash=digest).set(1)
