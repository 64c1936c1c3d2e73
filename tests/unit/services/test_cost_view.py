"""/cost's body per caller (app/services/cost_view.py) over the real ledger (memory store): the
global windows for everyone, a caller's own team, every team for an admin and in open mode,
break-glass entries beside the limits they raise, and never another team for a non-admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.budget.ledger import Ledger
from app.budget.scopes import caller_scopes
from app.budget.stores.memory import MemoryStore
from app.callers import OPEN_CALLER, Caller
from app.clock import ManualClock
from app.config import parse_policy
from app.services.cost_view import cost_report

NOW = datetime(2026, 11, 27, 6, 30, tzinfo=UTC)
POLICY = parse_policy(f"""
budgets: {{per_request_usd: 0.5, hourly_usd: 10, daily_usd: 50, monthly_usd: 500}}
teams:
  payments: {{budgets: {{per_request_usd: 0.2, hourly_usd: 2}}}}
  search: {{budgets: {{daily_usd: 5}}}}
break_glass:
  - {{scope: payments, until: "{(NOW + timedelta(hours=1)).isoformat()}", reason: INC-1,
      budgets: {{hourly_usd: 4}}}}
  - {{scope: global, until: "{(NOW + timedelta(hours=1)).isoformat()}", reason: INC-2,
      budgets: {{hourly_usd: 20}}}}
  - {{scope: search, until: "{(NOW - timedelta(hours=1)).isoformat()}", reason: over,
      budgets: {{daily_usd: 9}}}}
admin_keys: [lead]
""")


async def report(caller: Caller, spend: dict[str, float] | None = None) -> dict[str, Any]:
    ledger = Ledger(MemoryStore(), ManualClock(NOW), reservation_ttl_seconds=60)
    for team, usd in (spend or {}).items():
        await ledger.settle(await ledger.reserve(usd, caller_scopes(POLICY, team, NOW)), usd)
    return await cost_report(ledger, POLICY, caller, NOW)


async def test_a_member_sees_the_global_windows_and_its_own_team_only() -> None:
    body = await report(Caller("ci", "payments", False), {"payments": 0.5, "search": 1.0})
    assert "teams" not in body and "search" not in str(body)
    assert body["per_request_limit_usd"] == 0.5
    assert [(w["window"], w["limit_usd"], w["spent_usd"]) for w in body["windows"]] == [
        ("hourly", 20.0, 1.5), ("daily", 50.0, 1.5), ("monthly", 500.0, 1.5)]
    assert body["break_glass"] == [{"until": "2026-11-27T07:30:00+00:00", "reason": "INC-2",
                                    "budgets": {"hourly_usd": 20.0}}]
    assert body["team"] == {
        "name": "payments", "per_request_limit_usd": 0.2,
        "windows": [{"window": "hourly", "limit_usd": 4.0, "spent_usd": 0.5,
                     "reserved_usd": 0.0, "remaining_usd": 3.5,
                     "resets_at": "2026-11-27T07:00:00+00:00"}],
        "break_glass": [{"until": "2026-11-27T07:30:00+00:00", "reason": "INC-1",
                         "budgets": {"hourly_usd": 4.0}}]}


async def test_an_admin_and_open_mode_see_every_team() -> None:
    for caller in (Caller("lead", None, True), OPEN_CALLER):
        body = await report(caller, {"search": 1.0})
        teams = body["teams"]
        assert isinstance(teams, dict) and set(teams) == {"payments", "search"}
        assert body["team"] is None
        search = teams["search"]
        assert search["per_request_limit_usd"] == 0.5  # no cap of its own: the global one
        assert [(w["window"], w["limit_usd"], w["spent_usd"]) for w in search["windows"]] == [
            ("daily", 5.0, 1.0)]  # the expired raise no longer applies
        assert search["break_glass"] == []


async def test_a_team_only_a_key_names_has_no_windows_of_its_own() -> None:
    body = await report(Caller("tool", "adhoc", False))
    assert body["team"] == {"name": "adhoc", "per_request_limit_usd": 0.5, "windows": [],
                            "break_glass": []}
