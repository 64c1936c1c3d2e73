"""What /cost shows a caller: the global windows (every caller), its own team's windows, and for
an admin (policy `admin_keys`, or open mode) every configured team. Read from the ledger shared
by every replica in ONE snapshot, with break-glass applied at `now`, so a raise shows as the
limit in effect and its entry (until, reason) beside it.

A non-admin never sees another team: not its windows, not its break-glass entries, not its name.
The active global break-glass entries are shown to every caller: they explain the global limits
everyone sees.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.budget.ledger import Ledger, WindowState
from app.budget.scopes import caller_scopes, per_request_cap
from app.callers import Caller
from app.config import Policy
from app.config.teams import GLOBAL_SCOPE, BreakGlass, Limits


def _window(w: WindowState) -> dict[str, Any]:
    return {"window": w.window, "limit_usd": w.limit_usd, "spent_usd": round(w.spent_usd, 9),
            "reserved_usd": round(w.reserved_usd, 9),
            "remaining_usd": round(w.remaining_usd, 9), "resets_at": w.resets_at.isoformat()}


def _entries(policy: Policy, scope: str, now: datetime) -> list[dict[str, Any]]:
    active: tuple[BreakGlass, ...] = policy.active_break_glass(now)
    return [{"until": e.until.isoformat(), "reason": e.reason,
             "budgets": e.budgets.set_fields()} for e in active if e.scope == scope]


def visible_teams(policy: Policy, caller: Caller) -> list[str]:
    """The teams this caller may see: all configured ones for an admin, else its own."""
    if caller.admin:
        names = list(policy.teams)
        if caller.team is not None and caller.team not in names:
            names.append(caller.team)
        return names
    return [caller.team] if caller.team is not None else []


async def cost_report(ledger: Ledger, policy: Policy, caller: Caller,
                      now: datetime) -> dict[str, Any]:
    """The /cost body (without the fields the route adds: ledger kind, policy hash). Raises
    LedgerUnavailableError when the ledger cannot answer."""
    teams = visible_teams(policy, caller)
    scopes: list[Limits] = list(caller_scopes(policy, None, now))
    for name in teams:
        scopes.extend(caller_scopes(policy, name, now)[1:])  # the team's own, if configured
    states = await ledger.snapshot(scopes)
    by_scope: dict[str, list[dict[str, Any]]] = {}
    for state in states:
        by_scope.setdefault(state.scope, []).append(_window(state))

    def team_view(name: str) -> dict[str, Any]:
        return {"name": name,
                "per_request_limit_usd": per_request_cap(caller_scopes(policy, name, now))[0],
                "windows": by_scope.get(name, []),
                "break_glass": _entries(policy, name, now)}

    report: dict[str, Any] = {
        "per_request_limit_usd": per_request_cap(caller_scopes(policy, None, now))[0],
        "windows": by_scope.get(GLOBAL_SCOPE, []),
        "break_glass": _entries(policy, GLOBAL_SCOPE, now),
        "team": team_view(caller.team) if caller.team is not None else None,
    }
    if caller.admin:
        report["teams"] = {name: team_view(name) for name in teams}
    return report
