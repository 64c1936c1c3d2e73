"""Truncated answers are never cached (issue "the ledger misses money...", bug 3).

An answer cut at max_tokens (stop_reason "max_tokens": the per-request clamp makes it common), or
by the API's other unfinished stops (model_context_window_exceeded, pause_turn), is served marked
`truncated: true`, counted in ai_truncated_answers_total{model}, and never stored: a cached
truncated answer would be served again, fresh and then stale, for a day.

The real service in process, the real SDK against the fake Anthropic API, which clips a reply
longer than max_tokens and says stop_reason "max_tokens", as the real API does.
"""

from __future__ import annotations

import pytest

from tests.integration.resilience.conftest import PRIMARY, InProcessFactory, question

pytestmark = pytest.mark.integration

MAX_TOKENS = 16  # the policy's minimum: about 64 characters of answer
LONG_REPLY = "Check the pod's memory limit first. [runbook: pod-oomkilled] " * 10
SHORT_REPLY = "Raise the limit. [runbook: pod-oomkilled]"


async def test_a_truncated_answer_is_flagged_and_never_cached(
    in_process: InProcessFactory
) -> None:
    async with in_process(llm={"max_tokens": MAX_TOKENS},
                          degradation={"stale_cache": True}) as svc:
        svc.fake.set_reply(LONG_REPLY)
        first = (await svc.ask(question(0))).json()
        assert first["model"] == PRIMARY and first["truncated"] is True
        assert len(first["answer"]) < len(LONG_REPLY)
        again = (await svc.ask(question(0))).json()
        assert again["cached"] is False and again["truncated"] is True
        assert svc.upstream_calls(PRIMARY) == 2  # asked again: nothing was cached
        assert svc.sample("ai_cache_ops_total", result="store") == 0
        assert svc.sample("ai_truncated_answers_total", model=PRIMARY) == 2
        # and no stale copy is there for the ladder either, a day later, upstream down
        svc.advance(3600)
        svc.fake.fail(500, until_cleared=True)
        down = (await svc.ask(question(0))).json()
        assert down["model"] == "offline" and down["cached"] is False


async def test_a_complete_answer_is_cached_and_not_flagged(
    in_process: InProcessFactory
) -> None:
    # A canned reply carries no citations: grading is off here, this test is about truncation.
    async with in_process(llm={"max_tokens": MAX_TOKENS},
                          quality={"min_grounded_share": 0}) as svc:
        svc.fake.set_reply(SHORT_REPLY)
        first = (await svc.ask(question(1))).json()
        assert first["truncated"] is False
        again = (await svc.ask(question(1))).json()
        assert again["cached"] is True and again["truncated"] is False
        assert svc.upstream_calls(PRIMARY) == 1
        assert svc.sample("ai_truncated_answers_total", model=PRIMARY) == 0


@pytest.mark.parametrize("stop_reason", ["model_context_window_exceeded", "pause_turn"])
async def test_the_apis_other_unfinished_stops_are_truncated_answers(
    in_process: InProcessFactory, stop_reason: str
) -> None:
    async with in_process(quality={"min_grounded_share": 0}) as svc:
        svc.fake.set_reply(SHORT_REPLY)
        svc.fake.set_stop_reason(stop_reason)
        first = (await svc.ask(question(2))).json()
        assert first["model"] == PRIMARY and first["truncated"] is True
        again = (await svc.ask(question(2))).json()
        assert again["cached"] is False and again["truncated"] is True
        assert svc.upstream_calls(PRIMARY) == 2
        assert svc.sample("ai_truncated_answers_total", model=PRIMARY) == 2
