"""Requests, answers and the answer caches."""

from __future__ import annotations

import collections
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from app.metric_labels import (
    CACHE_OUTCOMES,
    CACHE_RESULTS,
    CACHE_TIERS,
    DEGRADED_MODES,
    REQUEST_BUCKETS,
    SEMANTIC_VETOES,
    SHED_ENDPOINTS,
    SIMILARITY_BUCKETS,
)


class AnswerMetrics:
    def _register_answers(self, r: CollectorRegistry) -> None:
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
        self.requests_shed = Counter(
            "ai_requests_shed", "Requests answered 503 overloaded at once because this replica "
            "was serving its in-flight limit (SRE_AI_MAX_IN_FLIGHT), by route.",
            ["endpoint"], registry=r,
        )
        self.in_flight_limit = Gauge(
            "ai_in_flight_limit", "The most /ask and POST /alerts requests this replica serves "
            "at once (SRE_AI_MAX_IN_FLIGHT); 0: no limit.", registry=r,
        )
        # Label children bound once and reused (`http_request`, `answer_served`): `labels()`
        # builds, checks and hashes the label tuple and takes the metric's lock on every call,
        # twice per request on the hot path (issue 14's profile). Keys are bounded like the
        # labels themselves: route templates x status codes, policy models.
        self._http_children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._answer_children: dict[str, Counter] = {}

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
            "ai_no_answer", "POST /ask replies that were \"no answer\" (the runbooks could not "
            "answer the question); the answers to alerts are counted by ai_alerts_answered_total.",
            registry=r,
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


    def http_request(self, endpoint: str, status: int, seconds: float) -> None:
        """One HTTP request served: `ai_requests_total` and `ai_request_seconds`."""
        children = self._http_children.get((endpoint, status))
        if children is None:
            children = (self.requests.labels(endpoint=endpoint, status=str(status)),
                        self.request_seconds.labels(endpoint=endpoint))
            self._http_children[(endpoint, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def request_shed(self, endpoint: str) -> None:
        """One request shed (`ai_requests_shed_total`); `endpoint` is one of SHED_ENDPOINTS."""
        self._shed[endpoint].inc()

    def semantic_vetoes(self, reasons: Iterable[str]) -> None:
        """`ai_semantic_cache_rejected_total`, once per vetoed candidate."""
        for reason, n in collections.Counter(reasons).items():
            child = self._vetoes.get(reason)
            if child is None:  # a reason added without a line in SEMANTIC_VETOES
                child = self._vetoes[reason] = self.semantic_rejected.labels(reason=reason)
            child.inc(n)

    def answer_served(self, model: str) -> None:
        """One answer served to /ask (`ai_answers_total`)."""
        child = self._answer_children.get(model)
        if child is None:
            child = self._answer_children[model] = self.answers.labels(model=model)
        child.inc()

    def _init_answers(self) -> None:
        for result in CACHE_RESULTS:
            self.cache_ops.labels(result=result)
        for outcome in CACHE_OUTCOMES:
            self.cache_lookups.labels(outcome=outcome)
        for kind in CACHE_OUTCOMES[:-1]:
            self.cache_saved_usd.labels(kind=kind)
        for tier in CACHE_TIERS:
            self.cache_evictions.labels(tier=tier)
        # Bound once: a lookup can veto many candidates, each counted (issue 14's profile).
        self._vetoes = {reason: self.semantic_rejected.labels(reason=reason)
                        for reason in SEMANTIC_VETOES}
        for mode in DEGRADED_MODES:
            self.degraded.labels(mode=mode)
        # Bound once: under overload, shedding is the hot path.
        self._shed = {e: self.requests_shed.labels(endpoint=e) for e in SHED_ENDPOINTS}
