"""Team windows under the global ones (issue 17): one reservation checks and holds both, and a
refusal names the scope that refused. Memory store here; the same scopes run on SQLite and Redis
in tests/integration/budget."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.budget.ledger import Ledger
from app.budget.stores.memory import MemoryStore
from app.clock import ManualClock
from app.config import parse_policy
from app.config.teams import Limits
from app.errors import BudgetExceededError

START = datetime(2026, 11, 27, 6, 30, tzinfo=UTC)
POLICY = parse_policy("""
budgets: {per_request_usd: 1.0, hourly_usd: 3.0, daily_usd: 10.0, monthly_usd: 100.0}
teams:
  payments: {budgets: {hourly_usd: 1.0}}
  search: {budgets: {hourly_usd: 2.5, daily_usd: 2.5}}
break_glass:
  - {scope: payments, until: "2026-11-27T07:15:00Z", reason: INC-1, budgets: {hourly_usd: 2.0}}
""")


def scopes(team: str) -> list[Limits]:
    now = START
    found = [POLICY.scope_limits("global", now), POLICY.scope_limits(team, now)]
    return [s for s in found if s is not None]


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(MemoryStore(), ManualClock(START), reservation_ttl_seconds=60)


async def test_a_team_window_refuses_and_names_the_team(ledger: Ledger) -> None:
    team = [*scopes("nobody"), Limits("payments", None, {"hourly": 1.0}, False)]
    await ledger.settle(await ledger.reserve(0.75, team), 0.75)
    with pytest.raises(BudgetExceededError) as info:
        await ledger.reserve(0.5, team)
    assert (info.value.scope, info.value.window) == ("payments", "hourly")
    assert "team payments's hourly budget of $1.00" in info.value.detail
    await ledger.reserve(0.5, scopes("search"))  # another team is not held by payments' window


async def test_the_global_window_holds_across_teams(ledger: Ledger) -> None:
    await ledger.settle(await ledger.reserve(2.0, scopes("search")), 2.0)
    await ledger.settle(await ledger.reserve(0.75, scopes("payments")), 0.75)
    with pytest.raises(BudgetExceededError) as info:
        await ledger.reserve(0.5, scopes("payments"))  # payments has room (break-glass 2.0)...
    assert (info.value.scope, info.value.window) == ("global", "hourly")  # ...the fleet has not


async def test_one_reservation_holds_team_and_global_windows(ledger: Ledger) -> None:
    held = await ledger.reserve(0.5, scopes("search"))
    assert held.scopes == ("global",) * 3 + ("search",) * 2
    states = await ledger.snapshot(scopes("search"))
    assert [(s.scope, s.window, s.reserved_usd) for s in states] == [
        ("global", "hourly", 0.5), ("global", "daily", 0.5), ("global", "monthly", 0.5),
        ("search", "hourly", 0.5), ("search", "daily", 0.5)]
    await ledger.settle(held, 0.25)
    states = await ledger.snapshot(scopes("search"))
    assert [(s.spent_usd, s.reserved_usd) for s in states] == [(0.25, 0.0)] * 5
    # A refusal by the team's window holds nothing anywhere (one atomic step).
    with pytest.raises(BudgetExceededError):
        await ledger.reserve(2.5, scopes("search"))
    assert [s.reserved_usd for s in await ledger.snapshot(scopes("search"))] == [0.0] * 5


async def test_team_spend_is_kept_apart_from_the_global_keys(ledger: Ledger) -> None:
    await ledger.settle(await ledger.reserve(0.5, scopes("search")), 0.5)
    payments = await ledger.snapshot(scopes("payments"))
    assert [(s.scope, s.spent_usd) for s in payments] == [
        ("global", 0.5), ("global", 0.5), ("global", 0.5), ("payments", 0.0)]
