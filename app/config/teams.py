"""Teams and break-glass: the policy's `teams`, `break_glass` and `admin_keys` sections.

A team is a set of client API keys (by key NAME, never the secret) with its own budgets under
the global ones: a paid call must fit every window of its team AND every global window, checked
and held in one ledger step. A window a team does not set has no team limit (the global one
still holds). Keys name their team in the keys file (`team:name=key`) or here (`keys:`); a key
in no team is held by the global windows alone.

A break-glass entry raises a team's (or the global) limits until `until`, then reverts by
itself: nothing has to be edited back after the incident. It may only raise, and only a limit
that exists. Entries whose `until` has passed stay valid (a ConfigMap applied late must not
fail); they simply no longer apply. Nothing here reads a clock: callers pass `now`.

    teams:
      payments:
        keys: [payments-ci, payments-oncall]
        budgets: {per_request_usd: 0.20, hourly_usd: 2, daily_usd: 10}
    break_glass:
      - scope: payments            # a team, or "global"
        until: "2026-12-01T06:00:00Z"
        reason: INC-4211 checkout outage
        budgets: {hourly_usd: 8, daily_usd: 30}
    admin_keys: [platform-lead]    # these keys see every team in /cost
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from app.config.bounds import PerRequestUSD, Strict, WindowUSD

GLOBAL_SCOPE = "global"
# Team names become metric labels: a bounded set of plain identifiers. "global" is the scope of
# the fleet-wide windows; "unassigned" is the label of callers in no team.
RESERVED_TEAM_NAMES = frozenset({GLOBAL_SCOPE, "unassigned", "other"})
MAX_TEAMS = 100
MAX_BREAK_GLASS = 50
TEAM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
TeamName = Annotated[str, Field(pattern=f"^{TEAM_NAME.pattern}$")]
# Key names as the keys file writes them (`name=key`), without the `team:` prefix.
KeyName = Annotated[str, Field(pattern=r"^[^\s=:,#][^\s=:,]{0,127}$")]
WINDOW_FIELDS = {"hourly": "hourly_usd", "daily": "daily_usd", "monthly": "monthly_usd"}


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a timezone, e.g. 2026-12-01T06:00:00Z")
    return value


class TeamBudgets(Strict):
    """Limits in USD; an absent one means "no limit of this scope" for that window."""

    per_request_usd: PerRequestUSD | None = None
    hourly_usd: WindowUSD | None = None
    daily_usd: WindowUSD | None = None
    monthly_usd: WindowUSD | None = None

    def set_fields(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Team(Strict):
    keys: tuple[KeyName, ...] = Field(default=(), max_length=1000)
    budgets: TeamBudgets = TeamBudgets()


class BreakGlass(Strict):
    scope: str
    until: Annotated[datetime, AfterValidator(_aware)]
    reason: str = Field(min_length=1, max_length=300)
    budgets: TeamBudgets

    def active(self, now: datetime) -> bool:
        return now < self.until


@dataclass(frozen=True)
class Limits:
    """The limits in effect for one scope at one moment (break-glass applied)."""

    scope: str
    per_request_usd: float | None
    windows: dict[str, float]  # smallest window first; only the windows this scope limits
    raised: bool  # a break-glass entry is in effect


def apply_break_glass(
    scope: str, base: dict[str, float], entries: tuple[BreakGlass, ...], now: datetime
) -> tuple[dict[str, float], bool]:
    """`base` (TeamBudgets field -> USD) with every active entry of `scope` applied: the highest
    raise wins when entries overlap."""
    out = dict(base)
    raised = False
    for entry in entries:
        if entry.scope != scope or not entry.active(now):
            continue
        for field, usd in entry.budgets.set_fields().items():
            if usd > out.get(field, 0.0):
                out[field] = usd
                raised = True
    return out, raised


def limits_from_fields(scope: str, fields: dict[str, float], raised: bool) -> Limits:
    windows = {w: fields[f] for w, f in WINDOW_FIELDS.items() if f in fields}
    return Limits(scope, fields.get("per_request_usd"), windows, raised)


def validate_teams(
    teams: dict[str, Team], entries: tuple[BreakGlass, ...], base_global: dict[str, float]
) -> None:
    """Cross-field rules; raises ValueError naming the offending entry."""
    for name in teams:
        if name in RESERVED_TEAM_NAMES:
            raise ValueError(f"teams.{name}: {name!r} is reserved, pick another team name")
    owner: dict[str, str] = {}
    for name, team in teams.items():
        for key in team.keys:
            if key in owner and owner[key] != name:
                raise ValueError(f"teams.{name}.keys: {key!r} is already in team {owner[key]!r}")
            owner[key] = name
    for i, entry in enumerate(entries):
        where = f"break_glass.{i}"
        if entry.scope != GLOBAL_SCOPE and entry.scope not in teams:
            raise ValueError(f"{where}.scope: {entry.scope!r} is neither 'global' nor a team")
        base = (base_global if entry.scope == GLOBAL_SCOPE
                else teams[entry.scope].budgets.set_fields())
        raised = entry.budgets.set_fields()
        if not raised:
            raise ValueError(f"{where}.budgets: raises nothing")
        for field, usd in raised.items():
            if field not in base:
                raise ValueError(f"{where}.budgets.{field}: {entry.scope} has no such limit "
                                 "to raise")
            if usd < base[field]:
                raise ValueError(f"{where}.budgets.{field}: {usd} is below the limit it "
                                 f"raises ({base[field]}); break-glass only raises")
