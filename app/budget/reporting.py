"""Budget gauges for /metrics, read from the shared ledger so every replica reports the same
numbers and a restart changes nothing.

One ledger snapshot per scrape covers the global windows and every team's (one store step
whatever the number of teams: 100 teams x 3 windows is one Lua script or one SQLite read).
Limits and reset times come from the policy and the clock, so they stay visible while the
ledger is down; remaining needs the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.budget.ledger import Ledger, WindowState, as_limits
from app.budget.windows import current_windows
from app.config import Budgets, Policy
from app.config.teams import GLOBAL_SCOPE, Limits
from app.metrics import Metrics


def policy_scopes(policy: Policy, now: datetime) -> list[Limits]:
    """The global limits and every configured team's, break-glass applied at `now`."""
    names = (GLOBAL_SCOPE, *policy.teams)
    return [s for s in (policy.scope_limits(n, now) for n in names) if s is not None]


def set_limit_metrics(scopes: Sequence[Limits], now: datetime, metrics: Metrics) -> None:
    """ai_budget_limit_usd{window} and ai_team_budget_{limit_usd,resets_at_timestamp_seconds}
    from the policy alone (no ledger)."""
    resets_at = {key.window: key.resets_at.timestamp() for key in current_windows(now)}
    team_limits: dict[tuple[str, str], tuple[float, float]] = {}
    for scope in scopes:
        if scope.scope == GLOBAL_SCOPE:
            for window, limit in scope.windows.items():
                metrics.budget_limit.labels(window=window).set(limit)
            continue
        for window, limit in scope.windows.items():
            team_limits[(scope.scope, window)] = (limit, resets_at[window])
    metrics.set_team_limits(team_limits)


def set_break_glass_metrics(policy: Policy, now: datetime, metrics: Metrics) -> None:
    """ai_break_glass_active{scope} and its expiry: the latest `until` of a scope's entries in
    effect at `now`."""
    until: dict[str, float] = {}
    for entry in policy.active_break_glass(now):
        until[entry.scope] = max(until.get(entry.scope, 0.0), entry.until.timestamp())
    metrics.set_break_glass(until)


async def refresh_budget_metrics(
    ledger: Ledger, scopes: Budgets | Sequence[Limits], metrics: Metrics
) -> list[WindowState]:
    """Set ai_budget_{limit,spent,reserved,remaining}_usd{window} and, for the teams among
    `scopes`, ai_team_budget_remaining_usd{team,window}, from one snapshot. The team windows
    exported are those `set_limit_metrics` set (call it first): a team's remaining is never
    the only series of a window.

    Raises LedgerUnavailableError (counted in ai_ledger_errors{operation="snapshot"}) if the
    store is down; the gauges then keep their last values. Returns the snapshot for reuse
    (e.g. by /cost)."""
    states = await ledger.snapshot(as_limits(scopes))
    for s in states:
        if s.scope != GLOBAL_SCOPE:
            metrics.set_team_remaining(s.scope, s.window, s.remaining_usd)
            continue
        metrics.budget_limit.labels(window=s.window).set(s.limit_usd)
        metrics.budget_spent.labels(window=s.window).set(s.spent_usd)
        metrics.budget_reserved.labels(window=s.window).set(s.reserved_usd)
        metrics.budget_remaining.labels(window=s.window).set(s.remaining_usd)
    return states
