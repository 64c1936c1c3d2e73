"""The ledger (budgets, reservations), the settle spool and the shared dependency (Redis)
with its own breaker."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from app.metric_labels import (
    BREAKER_EDGES,
    BREAKER_STATES,
    DEPENDENCIES,
    DEPENDENCY_OUTCOMES,
    REJECTION_WINDOWS,
    SPOOL_REPLAY_RESULTS,
    SPOOL_WRITE_RESULTS,
)


class MoneyMetrics:
    def _register_money(self, r: CollectorRegistry) -> None:
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

        # --- the ledger's Redis deleting keys when full (app/budget/redis_eviction.py)
        self.ledger_evictable = Gauge(
            "ai_ledger_evictable",
            "1 when the ledger's Redis may evict keys when full (a maxmemory and a "
            "maxmemory-policy other than noeviction), 0 otherwise and without Redis.",
            registry=r,
        )
        # --- the SQLite ledger's write-ahead log (pod-local: the ledger volume's file)
        self.ledger_wal_bytes = Gauge(
            "ai_ledger_wal_bytes",
            "Size of the SQLite ledger's write-ahead log file on this pod's volume (0 with the "
            "Redis ledger). Checkpoints keep it under 64 MiB; it grows while another process "
            "holds a read open on the ledger file.",
            registry=r,
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


    def _init_money(self) -> None:
        for window in REJECTION_WINDOWS:
            self.budget_rejections.labels(window=window)
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

