"""Teams in the ask pipeline (issue 17): every paid rung is charged to the caller's team and
held by the team's windows AND the global ones; the per-request cap is the lower of the two;
a cache hit charges nobody; a coalesced follower is served by its leader's paid call; an
alert's paid answer is charged to the sender's team; break-glass applies and expires on the
service clock. Real pipeline (memory ledger, ManualClock), fake Provider at the edge."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.budget.scopes import caller_scopes
from app.config import parse_policy
from app.errors import BudgetExceededError, UpstreamError
from tests.unit.services.test_alert_receiver import payload, receiver
from tests.unit.services.test_answer_ladder import FALLBACK, PRIMARY, Harness, Q
from tests.unit.services.test_coalescing import Gate, Searches

# The fake provider's answer costs $0.006 on the primary; its worst case is a few cents.
TEAMS = """
teams:
  roomy: {budgets: {hourly_usd: 5.0}}
  broke: {budgets: {hourly_usd: 0.001}}
  capped: {budgets: {per_request_usd: 0.01}}
"""
NO_FREE_RUNGS = "degradation: {offline: false, stale_cache: false}\n"


async def spent(h: Harness, team: str, window: str = "hourly") -> float:
    states = await h.ledger.snapshot(caller_scopes(h.policy, team, h.clock.now()))
    return next(s.spent_usd for s in states if s.scope == team and s.window == window)


async def global_spent(h: Harness) -> float:
    return (await h.ledger.snapshot(h.policy.budgets))[0].spent_usd


async def test_a_paid_answer_is_charged_to_the_team_and_the_global_windows() -> None:
    h = Harness(TEAMS)
    answer = await h.service.ask(Q, team="roomy")
    assert answer.model == PRIMARY and answer.cost_usd > 0
    assert await spent(h, "roomy") == pytest.approx(answer.cost_usd)
    assert await global_spent(h) == pytest.approx(answer.cost_usd)


async def test_the_team_window_refuses_and_the_refusal_names_the_team() -> None:
    h = Harness(TEAMS + NO_FREE_RUNGS)
    with pytest.raises(BudgetExceededError) as info:
        await h.service.ask(Q, team="broke")
    assert (info.value.scope, info.value.window) == ("broke", "hourly")
    assert "team broke's hourly budget" in info.value.detail
    assert h.provider.calls == []  # refused before the upstream: costs nothing
    # The same question from a caller in no team is answered: only broke is out of money.
    assert (await h.service.ask(Q)).model == PRIMARY


async def test_a_team_refusal_takes_the_ladder_as_a_global_one_does() -> None:
    h = Harness(TEAMS)
    answer = await h.service.ask(Q, team="broke")
    assert answer.model == "offline" and answer.cost_usd == 0
    assert answer.degraded is not None and answer.degraded.reason == "budget_exhausted"
    assert "team broke's hourly budget" in answer.degraded.detail


async def test_the_cheaper_fallback_rung_is_charged_to_the_team_too() -> None:
    h = Harness(TEAMS)
    h.provider.failures[PRIMARY] = UpstreamError("boom", kind="server_error", status=500)
    answer = await h.service.ask(Q, team="roomy")
    assert answer.model == FALLBACK and answer.cost_usd > 0
    assert await spent(h, "roomy") == pytest.approx(answer.cost_usd)


async def test_the_lower_per_request_limit_of_team_and_global_caps_the_call() -> None:
    h = Harness(TEAMS)
    await h.service.ask(Q, model=PRIMARY)
    uncapped = h.provider.calls[-1].max_tokens
    await h.service.ask("node NotReady, what now?", team="capped")
    assert h.provider.calls[-1].max_tokens < uncapped  # the team's $0.01, not the global $0.50
    h.policy = parse_policy(TEAMS.replace("per_request_usd: 0.01", "per_request_usd: 0.000001")
                            + NO_FREE_RUNGS)
    with pytest.raises(BudgetExceededError) as info:
        await h.service.ask("DNS resolution failures", team="capped")
    assert (info.value.scope, info.value.window) == ("capped", "per_request")
    assert "team capped's per-request limit" in info.value.detail


async def test_a_cache_hit_charges_no_team() -> None:
    h = Harness(TEAMS)
    first = await h.service.ask(Q, team="roomy")
    again = await h.service.ask(Q, team="broke")  # broke could not pay, and need not
    assert again.cached and again.cost_usd == 0 and again.answer == first.answer
    assert await spent(h, "broke") == 0
    assert len(h.provider.calls) == 1


async def test_a_coalesced_follower_gets_the_leaders_answer_and_the_leader_pays() -> None:
    h = Harness(TEAMS)
    gate, searches = Gate(h), Searches(h, 2)
    leader = asyncio.create_task(h.service.ask(Q, team="roomy"))
    await gate.arrived.wait()
    follower = asyncio.create_task(h.service.ask(Q, team="broke"))
    await searches.all_done()
    gate.open.set()
    led, followed = await asyncio.gather(leader, follower)
    assert len(h.provider.calls) == 1
    assert led.cost_usd > 0 and followed.cost_usd == 0 and followed.answer == led.answer
    assert followed.degraded is None  # served, though broke's own budget could not pay
    assert await spent(h, "roomy") == pytest.approx(led.cost_usd)
    assert await spent(h, "broke") == 0


async def test_an_alerts_paid_answer_is_charged_to_the_senders_team() -> None:
    h = Harness(TEAMS)
    rx, records = receiver(h)
    rx.start()
    try:
        assert (await rx.receive(payload("a"), team="roomy")).accepted == 1
        await rx.idle()
    finally:
        await rx.stop()
    [record] = await records.recent()
    assert record.mode == "paid" and record.cost_usd is not None and record.cost_usd > 0
    assert await spent(h, "roomy") == pytest.approx(record.cost_usd)


async def test_an_alert_from_a_team_out_of_budget_pays_nothing() -> None:
    h = Harness(TEAMS)
    rx, records = receiver(h)
    rx.start()
    try:
        await rx.receive(payload("a"), team="broke")
        await rx.idle()
    finally:
        await rx.stop()
    [record] = await records.recent()
    assert record.mode == "excerpts" and record.degraded == "offline"
    assert h.provider.calls == []


async def test_break_glass_raises_the_team_limit_until_it_expires_on_the_clock() -> None:
    h = Harness(TEAMS + NO_FREE_RUNGS)
    until = h.clock.now() + timedelta(minutes=20)
    h.policy = parse_policy(TEAMS + NO_FREE_RUNGS + f"""
break_glass:
  - {{scope: broke, until: "{until.isoformat()}", reason: INC-1, budgets: {{hourly_usd: 5.0}}}}
""")
    raised = await h.service.ask(Q, team="broke")  # refused by the base limit without it
    assert raised.model == PRIMARY and await spent(h, "broke") == pytest.approx(raised.cost_usd)
    h.clock.advance(20 * 60 - 1)
    assert (await h.service.ask("node NotReady, what now?", team="broke")).cost_usd > 0
    h.clock.advance(1)  # `until` reached, same hour: the base limit is back by itself
    with pytest.raises(BudgetExceededError) as info:
        await h.service.ask("DNS resolution failures", team="broke")
    assert (info.value.scope, info.value.window) == ("broke", "hourly")


async def test_refusals_are_counted_once_under_the_scope_that_refused() -> None:
    h = Harness(TEAMS.replace("per_request_usd: 0.01", "per_request_usd: 0.000001")
                + NO_FREE_RUNGS)
    h.metrics.set_teams(h.policy.teams)
    for team in ("broke", "capped"):
        with pytest.raises(BudgetExceededError):
            await h.service.ask(f"refused for {team}", team=team)

    def sample(name: str, **labels: str) -> float:
        value = h.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    # Each question was refused twice: the primary, then the cheaper fallback rung. The ledger
    # counts broke's own window; the pipeline counts capped's per-request cap.
    assert sample("ai_team_budget_rejections_total", team="broke", window="hourly") == 2
    assert sample("ai_team_budget_rejections_total", team="capped", window="per_request") == 2
    # Neither was the fleet's budget: the global counter stays at 0 in every window.
    for window in ("per_request", "hourly", "daily", "monthly"):
        assert sample("ai_budget_rejections_total", window=window) == 0
