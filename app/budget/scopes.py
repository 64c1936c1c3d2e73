"""Which budget scopes hold one caller's paid call: the global windows always, and the team's
when the caller is in a team the policy knows (app/config/teams.py). Break-glass is applied at
`now` (the service clock), so a raise reverts by itself at its `until`.

The per-request cap is the LOWEST per_request_usd of those scopes: a team may be tighter than
the fleet, never looser. A team named by a key (`team:name=key`) that the policy does not
configure has no limits of its own: the global ones alone hold it.
"""

from __future__ import annotations

from datetime import datetime

from app.config import Policy
from app.config.teams import GLOBAL_SCOPE, Limits


def caller_scopes(policy: Policy, team: str | None, now: datetime) -> tuple[Limits, ...]:
    """The global scope first, then the team's: the order a refusal is reported in."""
    found = [policy.scope_limits(GLOBAL_SCOPE, now)]
    if team is not None and team != GLOBAL_SCOPE:  # never the global windows twice
        found.append(policy.scope_limits(team, now))
    return tuple(s for s in found if s is not None)


def per_request_cap(scopes: tuple[Limits, ...]) -> tuple[float, str]:
    """(the lowest per-request limit, the scope that sets it); the global scope wins a tie."""
    capped = [(s.per_request_usd, s.scope) for s in scopes if s.per_request_usd is not None]
    usd, scope = min(capped, key=lambda c: (c[0], c[1] != GLOBAL_SCOPE))
    return usd, scope
