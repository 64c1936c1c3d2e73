"""Across replicas a flight's result outlives the flight by the wait (flight_lease.py), for an
ask that missed the answer cache just before the leader stored the answer. Only an answer the
cache would keep is given to such a later ask: a truncated one, or a degraded one (another
team's budget refused it), is for the flight's own waiters, and a later ask is answered afresh.
The real pipeline (tests/unit/services/test_answer_ladder.Harness) on a real redis-server."""

from __future__ import annotations

from collections.abc import Callable

from app.cache import SingleFlight
from app.config import parse_policy
from app.llm.base import Completion, CompletionRequest
from tests.fakes.redis_server import RedisServer
from tests.unit.services.test_answer_ladder import Harness, Q

TEAMS = """
teams:
  roomy: {budgets: {hourly_usd: 5.0}}
  broke: {budgets: {hourly_usd: 0.001}}
"""


def harness(replicas: Callable[..., SingleFlight], server: RedisServer,
            policy_yaml: str = "") -> Harness:
    return Harness(policy_yaml, flight=replicas(server.url, parse_policy(policy_yaml).cache))


async def test_a_truncated_answer_is_not_given_to_the_next_ask(
        replicas: Callable[..., SingleFlight], redis_server: RedisServer) -> None:
    h = harness(replicas, redis_server)
    answer = h.provider.complete

    async def cut_short(request: CompletionRequest) -> Completion:
        c = await answer(request)
        return Completion(c.text, c.model, c.usage, stop_reason="max_tokens", parts=c.parts)

    h.provider.complete = cut_short  # type: ignore[method-assign]
    first = await h.service.ask(Q)
    assert first.truncated
    h.provider.complete = answer  # type: ignore[method-assign]
    second = await h.service.ask(Q)
    assert not second.truncated and not second.cached
    assert len(h.provider.calls) == 2
    assert h.sample("ai_cache_lookups_total", outcome="coalesced") == 0


async def test_another_teams_refusal_is_not_given_to_the_next_ask(
        replicas: Callable[..., SingleFlight], redis_server: RedisServer) -> None:
    h = harness(replicas, redis_server, TEAMS)
    broke = await h.service.ask(Q, team="broke")
    assert broke.degraded is not None and broke.degraded.reason == "budget_exhausted"
    roomy = await h.service.ask(Q, team="roomy")  # after the flight: pays from its own team
    assert roomy.degraded is None and not roomy.cached and roomy.cost_usd > 0
    assert len(h.provider.calls) == 1


async def test_an_answer_the_cache_keeps_still_reaches_an_ask_that_missed_the_cache(
        replicas: Callable[..., SingleFlight], redis_server: RedisServer) -> None:
    """What the result's afterlife is for: the second ask missed the cache (here: emptied, as
    when it looked just before the leader stored) and is served the flight's answer, $0."""
    h = harness(replicas, redis_server)
    first = await h.service.ask(Q)
    await h.cache.aclose()  # empties it
    second = await h.service.ask(Q)
    assert second.cached and second.answer == first.answer
    assert len(h.provider.calls) == 1
    assert h.sample("ai_cache_lookups_total", outcome="coalesced") == 1
