"""Per-team money as metrics (issue 17): spend counted where the ledger settles, refusals where
it refuses, remaining/limit/reset gauges from one snapshot for every team, break-glass gauges;
team labels only from the policy's teams (never a key name, a key prefix's unknown team, or a
team a reload removed)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from app.api_keys import parse_keys
from app.budget.ledger import Ledger
from app.budget.reporting import (
    policy_scopes,
    refresh_budget_metrics,
    set_break_glass_metrics,
    set_limit_metrics,
)
from app.budget.stores.base import Slot, SlotUsage
from app.budget.stores.memory import MemoryStore
from app.budget.stores.sqlite import SqliteStore
from app.callers import resolve_caller
from app.clock import ManualClock
from app.config import Policy, parse_policy
from app.config.teams import Limits
from app.errors import BudgetExceededError
from app.metrics import Metrics

START = datetime(2026, 11, 27, 6, 30, tzinfo=UTC)
POLICY_TEXT = """
budgets: {per_request_usd: 1.0, hourly_usd: 3.0, daily_usd: 10.0, monthly_usd: 100.0}
teams:
  payments: {keys: [payments-ci], budgets: {hourly_usd: 1.0, daily_usd: 4.0}}
  search: {budgets: {daily_usd: 2.5}}
break_glass:
  - {scope: payments, until: "2026-11-27T07:15:00Z", reason: INC-1, budgets: {hourly_usd: 2.0}}
"""
POLICY = parse_policy(POLICY_TEXT)


def scopes(team: str, policy: Policy = POLICY) -> list[Limits]:
    found = [policy.scope_limits("global", START), policy.scope_limits(team, START)]
    return [s for s in found if s is not None]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def metrics() -> Metrics:
    m = Metrics(CollectorRegistry())
    m.set_teams(POLICY.teams)  # what Runtime._on_policy does with each policy applied
    return m


@pytest.fixture
def ledger(clock: ManualClock, metrics: Metrics) -> Ledger:
    return Ledger(MemoryStore(), clock, reservation_ttl_seconds=60, metrics=metrics)


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def exposition(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_configured_teams_start_at_zero(metrics: Metrics) -> None:
    for team in ("payments", "search"):
        assert sample(metrics, "ai_team_spend_usd_total", team=team) == 0
        for window in ("per_request", "hourly", "daily", "monthly"):
            assert sample(metrics, "ai_team_budget_rejections_total", team=team,
                          window=window) == 0
        assert sample(metrics, "ai_break_glass_active", scope=team) == 0
    assert sample(metrics, "ai_break_glass_active", scope="global") == 0


async def test_settled_team_spend_is_counted_once(ledger: Ledger, metrics: Metrics) -> None:
    held = await ledger.reserve(0.5, scopes("payments"))
    await ledger.settle(held, 0.25)
    await ledger.settle(held, 0.25)  # a repeated settle changes nothing, the counter neither
    await ledger.settle(await ledger.reserve(0.5, scopes("nobody")), 0.5)  # in no team
    assert sample(metrics, "ai_team_spend_usd_total", team="payments") == 0.25
    assert sample(metrics, "ai_team_spend_usd_total", team="search") == 0
    assert 'team="global"' not in exposition(metrics)


async def test_a_release_spends_nothing(ledger: Ledger, metrics: Metrics) -> None:
    await ledger.release(await ledger.reserve(0.5, scopes("payments")))
    assert sample(metrics, "ai_team_spend_usd_total", team="payments") == 0


async def test_a_team_window_refusal_is_counted_for_the_team(ledger: Ledger,
                                                             metrics: Metrics) -> None:
    await ledger.settle(await ledger.reserve(2.0, scopes("search")), 2.0)
    with pytest.raises(BudgetExceededError):
        await ledger.reserve(0.75, scopes("search"))  # search's daily 2.5 refuses
    assert sample(metrics, "ai_team_budget_rejections_total", team="search",
                  window="daily") == 1


async def test_a_global_refusal_is_not_a_team_refusal(ledger: Ledger,
                                                      metrics: Metrics) -> None:
    await ledger.settle(await ledger.reserve(1.0, scopes("nobody")), 1.0)
    await ledger.settle(await ledger.reserve(1.0, scopes("nobody")), 1.0)
    with pytest.raises(BudgetExceededError) as info:
        await ledger.reserve(1.5, scopes("payments"))  # payments has room, the fleet has not
    assert info.value.scope == "global"
    assert sample(metrics, "ai_team_budget_rejections_total", team="payments",
                  window="hourly") == 0


async def test_no_key_name_or_unknown_team_ever_becomes_a_label(
        ledger: Ledger, metrics: Metrics) -> None:
    """A key's `team:` prefix naming a team the policy lacks resolves to that team name, but
    the policy gives it no limits; even a caller that built limits for it (a bug) adds no
    label. Key names never label anything."""
    keys = parse_keys("ghost:alice-laptop=sk-ghost-1,payments-ci=sk-pay-1", separator=",")
    ghost = resolve_caller(keys["sk-ghost-1"], POLICY)
    assert ghost.team == "ghost" and POLICY.scope_limits("ghost", START) is None
    bogus = [*scopes("nobody"), Limits("ghost", None, {"hourly": 0.1}, False)]
    await ledger.settle(await ledger.reserve(0.05, bogus), 0.05)
    with pytest.raises(BudgetExceededError):
        await ledger.reserve(0.5, bogus)
    payer = resolve_caller(keys["sk-pay-1"], POLICY)
    await ledger.settle(await ledger.reserve(0.1, scopes(str(payer.team))), 0.1)
    set_limit_metrics([*policy_scopes(POLICY, START), *bogus[-1:]], START, metrics)
    await refresh_budget_metrics(ledger, [*policy_scopes(POLICY, START), *bogus[-1:]], metrics)
    text = exposition(metrics)
    for secret_or_unknown in ("ghost", "alice-laptop", "payments-ci", "sk-"):
        assert secret_or_unknown not in text
    assert sample(metrics, "ai_team_spend_usd_total", team="payments") == 0.1


async def test_a_team_removed_by_a_reload_leaves_no_series(
        ledger: Ledger, metrics: Metrics, clock: ManualClock) -> None:
    held = await ledger.reserve(0.5, scopes("search"))  # admitted under the old policy
    set_limit_metrics(policy_scopes(POLICY, START), START, metrics)
    await refresh_budget_metrics(ledger, policy_scopes(POLICY, START), metrics)
    assert sample(metrics, "ai_team_budget_remaining_usd", team="search", window="daily") == 2.0
    reloaded = parse_policy(POLICY_TEXT.replace("  search: {budgets: {daily_usd: 2.5}}\n", ""))
    metrics.set_teams(reloaded.teams)
    await ledger.settle(held, 0.5)  # settles after the reload: no series comes back
    set_limit_metrics(policy_scopes(reloaded, START), START, metrics)
    await refresh_budget_metrics(ledger, policy_scopes(reloaded, START), metrics)
    assert 'team="search"' not in exposition(metrics)
    assert sample(metrics, "ai_team_budget_limit_usd", team="payments", window="hourly") == 2.0


async def test_a_window_a_team_stops_limiting_loses_its_gauges(metrics: Metrics) -> None:
    set_limit_metrics(policy_scopes(POLICY, START), START, metrics)
    assert sample(metrics, "ai_team_budget_limit_usd", team="payments", window="daily") == 4.0
    fewer = parse_policy(POLICY_TEXT.replace("hourly_usd: 1.0, daily_usd: 4.0",
                                             "hourly_usd: 1.0"))
    set_limit_metrics(policy_scopes(fewer, START), START, metrics)
    assert sample(metrics, "ai_team_budget_limit_usd", team="payments", window="daily") is None
    assert sample(metrics, "ai_team_budget_resets_at_timestamp_seconds", team="payments",
                  window="daily") is None


async def test_team_gauges_from_the_policy_and_the_ledger(ledger: Ledger,
                                                          metrics: Metrics) -> None:
    await ledger.settle(await ledger.reserve(0.5, scopes("payments")), 0.5)
    await ledger.reserve(0.25, scopes("payments"))  # held, not settled
    all_scopes = policy_scopes(POLICY, START)
    set_limit_metrics(all_scopes, START, metrics)
    await refresh_budget_metrics(ledger, all_scopes, metrics)
    g = {w: (sample(metrics, "ai_team_budget_limit_usd", team="payments", window=w),
             sample(metrics, "ai_team_budget_remaining_usd", team="payments", window=w),
             sample(metrics, "ai_team_budget_resets_at_timestamp_seconds", team="payments",
                    window=w))
         for w in ("hourly", "daily", "monthly")}
    assert g["hourly"] == (2.0, 1.25, datetime(2026, 11, 27, 7, tzinfo=UTC).timestamp())
    assert g["daily"] == (4.0, 3.25, datetime(2026, 11, 28, tzinfo=UTC).timestamp())
    assert g["monthly"] == (None, None, None)  # payments sets no monthly limit
    # The global gauges still read the global windows (break-glass applied to the limit).
    assert sample(metrics, "ai_budget_remaining_usd", window="hourly") == 2.25
    assert sample(metrics, "ai_budget_limit_usd", window="hourly") == 3.0


def test_break_glass_gauges_follow_the_clock(metrics: Metrics) -> None:
    set_break_glass_metrics(POLICY, START, metrics)
    until = datetime(2026, 11, 27, 7, 15, tzinfo=UTC).timestamp()
    assert sample(metrics, "ai_break_glass_active", scope="payments") == 1
    assert sample(metrics, "ai_break_glass_expiry_timestamp_seconds", scope="payments") == until
    assert sample(metrics, "ai_break_glass_active", scope="global") == 0
    assert sample(metrics, "ai_break_glass_active", scope="search") == 0
    set_break_glass_metrics(POLICY, datetime(2026, 11, 27, 7, 15, tzinfo=UTC), metrics)
    assert sample(metrics, "ai_break_glass_active", scope="payments") == 0
    assert sample(metrics, "ai_break_glass_expiry_timestamp_seconds", scope="payments") == 0


class CountingStore(SqliteStore):
    snapshots = 0

    async def snapshot(self, slots: Sequence[Slot], now: float) -> list[SlotUsage]:
        self.snapshots += 1
        return await super().snapshot(slots, now)


async def test_one_snapshot_per_scrape_for_a_hundred_teams(tmp_path: Path,
                                                           clock: ManualClock) -> None:
    teams = "\n".join(f"  team-{i:03d}: {{budgets: {{hourly_usd: 1, daily_usd: 5, "
                      f"monthly_usd: 50}}}}" for i in range(100))
    policy = parse_policy(f"budgets: {{hourly_usd: 100, daily_usd: 500}}\nteams:\n{teams}\n")
    metrics = Metrics(CollectorRegistry())
    metrics.set_teams(policy.teams)
    store = CountingStore(tmp_path / "ledger.sqlite")
    ledger = Ledger(store, clock, metrics=metrics)
    try:
        started = time.perf_counter()
        all_scopes = policy_scopes(policy, START)
        set_limit_metrics(all_scopes, START, metrics)
        await refresh_budget_metrics(ledger, all_scopes, metrics)
        elapsed = time.perf_counter() - started
        assert store.snapshots == 1
        assert sample(metrics, "ai_team_budget_remaining_usd", team="team-099",
                      window="monthly") == 50
        assert elapsed < 2.0, elapsed  # measured ~10 ms on the dev box; a hang would show
    finally:
        await ledger.aclose()


def test_a_global_break_glass_raises_the_global_limit_gauge(metrics: Metrics) -> None:
    raised = parse_policy(POLICY_TEXT + """\
  - {scope: global, until: "2026-11-27T08:00:00Z", reason: INC-2, budgets: {daily_usd: 25}}
""")
    set_limit_metrics(policy_scopes(raised, START), START, metrics)
    set_break_glass_metrics(raised, START, metrics)
    assert sample(metrics, "ai_budget_limit_usd", window="daily") == 25
    assert sample(metrics, "ai_break_glass_active", scope="global") == 1
    later = datetime(2026, 11, 27, 8, tzinfo=UTC)
    set_limit_metrics(policy_scopes(raised, later), later, metrics)
    assert sample(metrics, "ai_budget_limit_usd", window="daily") == 10  # reverted by itself
