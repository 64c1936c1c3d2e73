"""The policy's teams, break-glass and admin keys (issue 17): validated, bounded, and applied
on the caller's `now` (no clock is read here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.api_keys import KeyIdentity, parse_keys
from app.budget.scopes import caller_scopes
from app.callers import OPEN_CALLER, resolve_caller
from app.config import parse_policy
from app.errors import PolicyError

UNTIL = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
DOC = """
budgets: {per_request_usd: 0.5, hourly_usd: 10, daily_usd: 50, monthly_usd: 500}
teams:
  payments: {keys: [pay-ci, pay-oncall], budgets: {per_request_usd: 0.2, hourly_usd: 2}}
  search: {budgets: {daily_usd: 5}}
break_glass:
  - {scope: payments, until: "2026-12-01T06:00:00Z", reason: INC-4211, budgets: {hourly_usd: 8}}
  - {scope: global, until: "2026-12-01T06:00:00+00:00", reason: INC-4211,
     budgets: {daily_usd: 80}}
admin_keys: [platform-lead]
"""


def test_break_glass_raises_until_its_time_then_reverts() -> None:
    policy = parse_policy(DOC)
    before = UNTIL - timedelta(microseconds=1)
    team = policy.scope_limits("payments", before)
    assert team is not None and team.windows == {"hourly": 8.0} and team.raised
    assert team.per_request_usd == 0.2
    glob = policy.scope_limits("global", before)
    assert glob is not None and glob.windows["daily"] == 80.0 and glob.raised
    after = policy.scope_limits("payments", UNTIL)
    assert after is not None and after.windows == {"hourly": 2.0} and not after.raised
    assert policy.active_break_glass(before) and not policy.active_break_glass(UNTIL)


def test_a_team_without_a_window_has_no_team_limit_there() -> None:
    limits = parse_policy(DOC).scope_limits("search", UNTIL)
    assert limits is not None and limits.windows == {"daily": 5.0}
    assert limits.per_request_usd is None
    assert parse_policy(DOC).scope_limits("nobody", UNTIL) is None


@pytest.mark.parametrize(("doc", "says"), [
    ("teams: {global: {}}", "teams.global: 'global' is reserved"),
    ("teams: {Payments: {}}", "teams.Payments"),
    ("teams: {a: {keys: [k]}, b: {keys: [k]}}", "'k' is already in team 'a'"),
    ("break_glass: [{scope: nope, until: '2026-12-01T06:00:00Z', reason: r, "
     "budgets: {hourly_usd: 20}}]", "break_glass.0.scope: 'nope'"),
    ("break_glass: [{scope: global, until: '2026-12-01T06:00:00', reason: r, "
     "budgets: {hourly_usd: 20}}]", "needs a timezone"),
    ("break_glass: [{scope: global, until: '2026-12-01T06:00:00Z', reason: r, "
     "budgets: {hourly_usd: 1}}]", "break-glass only raises"),
    ("teams: {a: {budgets: {hourly_usd: 1}}}\nbreak_glass: [{scope: a, "
     "until: '2026-12-01T06:00:00Z', reason: r, budgets: {daily_usd: 9}}]", "no such limit"),
    ("break_glass: [{scope: global, until: '2026-12-01T06:00:00Z', reason: r, budgets: {}}]",
     "raises nothing"),
    ("teams: {a: {budgets: {hourly_usd: 1, weekly_usd: 2}}}", "weekly_usd: unknown field"),
])
def test_invalid_team_sections_name_the_field(doc: str, says: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(doc)
    assert says in str(info.value)


def test_keys_name_their_team_in_the_keys_file_or_in_the_policy() -> None:
    keys = parse_keys("payments:pay-bot=k1\nops=k2\n:bad=k3\nsearch:s=k=4", separator="\n")
    assert keys == {"k1": KeyIdentity("pay-bot", "payments"), "k2": KeyIdentity("ops"),
                    "k=4": KeyIdentity("s", "search")}
    policy = parse_policy(DOC)
    assert resolve_caller(KeyIdentity("pay-bot", "payments"), policy).team == "payments"
    assert resolve_caller(KeyIdentity("pay-ci"), policy).team == "payments"  # policy's keys
    assert resolve_caller(KeyIdentity("ops"), policy).team is None
    # The keys file's prefix wins over the policy's list.
    assert resolve_caller(KeyIdentity("pay-ci", "search"), policy).team == "search"
    # A team prefix the policy could never name is refused, not taken: "global" would have
    # charged the fleet's windows twice per answer.
    assert parse_keys("global:ci=k5\nunassigned:a=k6\nPayments:b=k7\nok=k8", separator="\n") \
        == {"k8": KeyIdentity("ok")}
    assert [s.scope for s in caller_scopes(policy, "global", UNTIL)] == ["global"]
    assert [s.scope for s in caller_scopes(policy, "payments", UNTIL)] == ["global", "payments"]
    lead = resolve_caller(KeyIdentity("platform-lead"), policy)
    assert lead.admin and not resolve_caller(KeyIdentity("ops"), policy).admin
    assert resolve_caller(None, policy) is OPEN_CALLER and OPEN_CALLER.admin
