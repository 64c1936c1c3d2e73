"""Per model: tokens, cost, the Anthropic API and its circuit breakers."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.metric_labels import (
    BREAKER_STATES,
    ESTIMATE_REASONS,
    FIRST_CHUNK_BUCKETS,
    TOKEN_DIRECTIONS,
    UPSTREAM_BUCKETS,
    UPSTREAM_OUTCOMES,
)


class UpstreamMetrics:
    def _register_upstream(self, r: CollectorRegistry) -> None:
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
            "Answers cut short (stop_reason max_tokens, model_context_window_exceeded, "
            "pause_turn); never cached.", ["model"],
            registry=r,
        )

        # --- upstream (Anthropic API)
        self.upstream_requests = Counter(
            "ai_upstream_requests", "Calls to the LLM API by model and outcome.",
            ["model", "outcome"], registry=r,
        )
        self.upstream_seconds = Histogram(
            "ai_upstream_request_seconds", "LLM API call latency by model.",
            ["model"], buckets=UPSTREAM_BUCKETS, registry=r,
        )
        # OpenTelemetry GenAI `gen_ai.client.operation.time_to_first_chunk`, in Prometheus form
        # (dots to underscores, the unit suffixed): a streamed paid call, from sending to its
        # first text delta.
        self.first_chunk_seconds = Histogram(
            "gen_ai_client_operation_time_to_first_chunk_seconds",
            "Time from sending a streamed LLM API call to its first text delta, by model.",
            ["model"], buckets=FIRST_CHUNK_BUCKETS, registry=r,
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
        self.first_chunk_seconds.labels(model=model)
        self.breaker_hold.labels(model=model)


    def set_breaker_state(self, model: str, state: str) -> None:
        for s in BREAKER_STATES:
            self.breaker_state.labels(model=model, state=s).set(1 if s == state else 0)

