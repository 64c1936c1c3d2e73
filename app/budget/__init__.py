"""Money (docs/architecture.md): exact pricing, per-request clamping, and a reserve/settle
ledger over calendar windows, stored in memory, SQLite or Redis."""

from app.budget.ledger import Ledger, Reservation, WindowState, open_ledger
from app.budget.pricing import (
    clamp_max_tokens,
    cost_usd,
    estimate_input_tokens,
    worst_case_usd,
)
from app.budget.reporting import refresh_budget_metrics
from app.budget.windows import WindowKey

__all__ = [
    "Ledger",
    "Reservation",
    "WindowKey",
    "WindowState",
    "clamp_max_tokens",
    "cost_usd",
    "estimate_input_tokens",
    "open_ledger",
    "refresh_budget_metrics",
    "worst_case_usd",
]
