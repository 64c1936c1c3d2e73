"""Live configuration (policy, runbooks, keys), retrieval and client authentication."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.metric_labels import (
    AUTH_STATES,
    CONFIG_KINDS,
    EMBEDDING_SOURCES,
    RETRIEVAL_BUCKETS,
    RUNBOOK_SKIP_REASONS,
)


class ConfigurationMetrics:
    def _register_configuration(self, r: CollectorRegistry) -> None:
        # --- configuration
        self.config_reloads = Counter(
            "ai_config_reloads", "Configuration reloads by kind and result.",
            ["kind", "result"], registry=r,
        )
        self.config_rejected = Gauge(
            "ai_config_rejected", "1 while the newest configuration of this kind was rejected "
            "and the last good one stays in effect; 0 once a good one is applied.",
            ["kind"], registry=r,
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

        self._active_config: dict[str, tuple[str, str]] = {}

    def _init_configuration(self) -> None:
        for kind in CONFIG_KINDS:
            for result in ("success", "error"):
                self.config_reloads.labels(kind=kind, result=result)
            self.config_rejected.labels(kind=kind).set(0)
        for reason in RUNBOOK_SKIP_REASONS:
            self.runbooks_skipped.labels(reason=reason)
        for source in EMBEDDING_SOURCES:
            self.runbooks_embedded.labels(source=source)

    def config_reloaded(self, kind: str, *, ok: bool, count: bool = True) -> None:
        """A configuration of `kind` was applied (`ok`) or rejected: counted (unless `count`
        is off: a rejection already counted) and the current state set (ai_config_rejected)."""
        if count:
            self.config_reloads.labels(kind=kind, result="success" if ok else "error").inc()
        self.config_rejected.labels(kind=kind).set(0 if ok else 1)

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
