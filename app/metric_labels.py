"""The bounded vocabularies of our metrics: every label value a series may take, and buckets.

app/metrics/ builds the instruments from these and creates the known series at 0, so rate()
and absent()-style alerts work from the first scrape; code that sets a label imports the tuple
it must stay within. Unknown values never become labels.
"""

from __future__ import annotations

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60)
RETRIEVAL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
UPSTREAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 45, 60)
# The OpenTelemetry GenAI semantic conventions' advised buckets for time to first chunk.
FIRST_CHUNK_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24,
                       20.48, 40.96, 81.92)

# The routes that do paid work, where a replica sheds requests over its in-flight limit
# (app/api/load_shedding.py).
SHED_ENDPOINTS = ("/ask", "/alerts")
TOKEN_DIRECTIONS = ("input", "output", "cache_read", "cache_write")
CACHE_RESULTS = ("hit", "stale_hit", "miss", "store", "error")
# How an answerable question was served by the caches (one per question): a hit by kind, or a
# miss (it went to the paid rungs). Tiers for evictions; the semantic guard's vetoes.
CACHE_OUTCOMES = ("exact", "semantic", "coalesced", "miss")
CACHE_TIERS = ("exact", "semantic")
SEMANTIC_VETOES = ("negation", "opposite", "entity", "content")
SIMILARITY_BUCKETS = (0.9, 0.92, 0.94, 0.96, 0.98, 0.99, 1.0)
DEGRADED_MODES = ("fallback_model", "cached", "stale_cache", "offline")
BREAKER_STATES = ("closed", "open", "half_open")
# The edges a breaker's state machine can take.
BREAKER_EDGES = (
    ("closed", "open"), ("open", "half_open"), ("half_open", "open"), ("half_open", "closed")
)
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
# Why a call was settled at its reserved worst case: it was sent and may have been billed, but
# no usage came back (timeout after sending, connection dropped mid-response, client went away).
ESTIMATE_REASONS = ("timeout", "connection", "cancelled")
SPOOL_WRITE_RESULTS = ("spooled", "failed")
SPOOL_REPLAY_RESULTS = ("settled", "failed")
RATELIMIT_KINDS = ("requests", "tokens", "input_tokens", "output_tokens")
# Our own client rate limits (app/ratelimit/): the limit that refused a request.
RATE_LIMITS = ("requests", "tokens")
CONFIG_KINDS = ("policy", "runbooks", "api_keys")
AUTH_STATES = ("open", "enforced", "deny_all")
# Shared dependencies with a breaker of their own (app/resilience/dependency.py).
DEPENDENCIES = ("redis",)
DEPENDENCY_OUTCOMES = ("success", "failure")
RUNBOOK_SKIP_REASONS = ("too_large", "not_utf8", "unreadable", "no_headings", "bad_front_matter")
EMBEDDING_SOURCES = ("model", "cache")
# The Alertmanager receiver: alerts received by status; how a firing alert was answered (a
# duplicate is a (fingerprint, startsAt) already answered: $0); which storm cap turned a paid
# answer into runbook excerpts.
ALERT_STATUSES = ("firing", "resolved")
ALERT_ANSWER_MODES = ("paid", "cached", "excerpts", "no_answer", "duplicate")
ALERT_CAPS = ("group", "minute")
# Alert answers sent to the delivery webhook (app/alerts/delivery.py): each answer ends once as
# delivered or dead_letter; each attempt is a success, retryable (429, 5xx, timeout, connection:
# tried again) or rejected (another 4xx/3xx: not retried).
ALERT_DELIVERY_OUTCOMES = ("delivered", "dead_letter")
ALERT_DELIVERY_ATTEMPT_RESULTS = ("success", "retryable", "rejected")
ALERT_DELIVERY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Answer quality (issue 18): the share of an answer's text backed by a citation, 0..1, finer
# near the top where the policy threshold and healthy answers sit; why a model's citation was
# dropped (it names a document that was not sent, or quotes text the runbook does not have).
GROUNDED_BUCKETS = (0, 0.1, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
CITATION_REJECTIONS = ("outside_documents", "text_mismatch")
# The `model` label of answers written without an LLM (runbook excerpts); the same string as
# app.llm.offline.OFFLINE_MODEL, which this tier may not import (a unit test pins them equal).
OFFLINE_MODEL_LABEL = "offline"
