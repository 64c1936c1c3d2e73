"""Budget gauges for /metrics, read from the shared ledger so every replica reports the same
numbers and a restart changes nothing."""

from __future__ import annotations

from app.budget.ledger import Ledger, WindowState
from app.config import Budgets
from app.metrics import Metrics


async def refresh_budget_metrics(
    ledger: Ledger, budgets: Budgets, metrics: Metrics
) -> list[WindowState]:
    """Set ai_budget_{limit,spent,reserved,remaining}_usd{window} from one snapshot.

    Raises LedgerUnavailableError (counted in ai_ledger_errors{operation="snapshot"}) if the
    store is down; the gauges then keep their last values. Returns the snapshot for reuse
    (e.g. by /cost)."""
    states = await ledger.snapshot(budgets)
    for s in states:
        metrics.budget_limit.labels(window=s.window).set(s.limit_usd)
        metrics.budget_spent.labels(window=s.window).set(s.spent_usd)
        metrics.budget_reserved.labels(window=s.window).set(s.reserved_usd)
        metrics.budget_remaining.labels(window=s.window).set(s.remaining_usd)
    return states
