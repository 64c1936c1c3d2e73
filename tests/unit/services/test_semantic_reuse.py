"""The semantic tier in the ask pipeline: a reworded question reuses a paid answer, a hard
negative pays for its own, and the metrics say which (app/services/reuse.py)."""

from __future__ import annotations

from typing import Any

import pytest

from app.errors import UpstreamError
from tests.unit.services.test_answer_ladder import FALLBACK, PRIMARY, Harness
from tests.unit.services.test_exact_first import DISK, _Corpus, _harness

ASKED = "postgres refusing connections: too many clients already"
REWORDED = "postgres says too many clients already and refuses connections"
# cosine 0.987 and the same sections retrieved: only the guard tells them apart
OUT, IN = "hpa won't scale out the workers", "hpa won't scale in the workers"
NODE_17, NODE_18 = "node ip-10-0-3-17 is NotReady", "node ip-10-0-3-18 is NotReady"


def count_semantic_adds(h: Harness) -> list[str]:
    """The questions written to the harness's (real, in-memory) semantic tier, in order."""
    added: list[str] = []
    add = h.semantic.add

    async def counted(context_key: str, answer_key: str, question: str, vector: Any) -> int:
        added.append(question)
        return await add(context_key, answer_key, question, vector)

    h.semantic.add = counted  # type: ignore[method-assign]
    return added


async def test_a_paid_answer_writes_its_semantic_entry_once() -> None:
    """Announced before the call, the entry points at the answer once it is stored: the store
    does not write it again (with Redis, the heaviest script of a paid answer)."""
    h = Harness()
    adds = count_semantic_adds(h)
    first = await h.service.ask(ASKED)
    assert adds == [ASKED]
    again = await h.service.ask(REWORDED)
    assert again.cached and again.answer == first.answer and len(h.provider.calls) == 1


async def test_an_answer_of_the_fallback_model_gets_its_own_semantic_entry() -> None:
    """Only the primary model's key was announced: the fallback's answer is stored under its
    own key, in its own bucket, and written there."""
    h = Harness()
    h.provider.failures[PRIMARY] = UpstreamError("boom", kind="server_error", status=500)
    adds = count_semantic_adds(h)
    answer = await h.service.ask(ASKED)
    assert answer.model == FALLBACK and not answer.cached
    assert adds == [ASKED, ASKED]  # announced (primary), then stored (fallback)


async def test_a_reworded_question_reuses_the_paid_answer() -> None:
    h = Harness()
    first = await h.service.ask(ASKED)
    again = await h.service.ask(REWORDED)
    assert again.cached and again.answer == first.answer and again.cost_usd == 0
    assert len(h.provider.calls) == 1
    assert h.sample("ai_cache_lookups_total", outcome="semantic") == 1
    assert h.sample("ai_cache_lookups_total", outcome="miss") == 1
    assert h.sample("ai_cache_saved_usd_total", kind="semantic") == pytest.approx(first.cost_usd)
    assert h.sample("ai_semantic_cache_similarity_count") == 1


async def test_the_exact_tier_answers_first_and_counts_as_exact() -> None:
    h = Harness()
    await h.service.ask(ASKED)
    await h.service.ask(ASKED.upper())
    assert h.sample("ai_cache_lookups_total", outcome="exact") == 1
    assert h.sample("ai_cache_lookups_total", outcome="semantic") == 0


async def test_the_opposite_question_pays_for_its_own_answer_and_the_veto_is_counted() -> None:
    h = Harness()
    await h.service.ask(OUT)
    other = await h.service.ask(IN)
    assert not other.cached and len(h.provider.calls) == 2
    assert h.sample("ai_semantic_cache_rejected_total", reason="opposite") == 1
    await h.service.ask(NODE_17)
    assert not (await h.service.ask(NODE_18)).cached
    assert h.sample("ai_semantic_cache_rejected_total", reason="entity") == 1


async def test_policy_turns_the_semantic_tier_off() -> None:
    h = Harness("cache: {semantic_enabled: false}\n")
    await h.service.ask(ASKED)
    again = await h.service.ask(REWORDED)
    assert not again.cached and len(h.provider.calls) == 2


async def test_a_semantic_entry_whose_answer_expired_is_a_miss() -> None:
    h = Harness("cache: {ttl_seconds: 60, stale_ttl_seconds: 0}\n")
    await h.service.ask(ASKED)
    h.clock.advance(61)
    again = await h.service.ask(REWORDED)
    assert not again.cached and len(h.provider.calls) == 2


async def test_exact_evictions_are_counted() -> None:
    h = Harness("cache: {max_entries: 1}\n")
    await h.service.ask(ASKED)
    await h.service.ask(OUT)
    assert h.sample("ai_cache_evictions_total", tier="exact") == 1


async def test_an_edit_invalidates_the_reworded_reuse_of_answers_built_on_it() -> None:
    corpus = _Corpus()
    h = _harness(corpus)
    asked, reworded = "disk is full, which logs can I delete?", "which logs can I delete, disk full"
    await h.service.ask(asked)
    assert (await h.service.ask(reworded)).cached  # the same runbook, reworded: reused
    await h.service.ask("the TLS certificate expired, how do I renew it with cert-manager?")
    corpus.edit("disk", DISK.replace("/var/log/pods", "/var/log/containers"))
    calls = len(h.provider.calls)
    assert not (await h.service.ask(reworded + " now")).cached  # built on the edited section
    assert len(h.provider.calls) == calls + 1
