"""Answers you can check (issue 18): citations to the sentence, groundedness, the no-answer signal.

The real service in process, the real `anthropic` SDK against the fake Anthropic API, which
answers from the documents it received with real `char_location` citations, or in a mode that
leaves them out, points them outside the documents, misquotes, or declines through the tool.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from app.runbooks.loader import load_runbooks
from tests.integration.resilience.conftest import (
    PRIMARY,
    TOPICS,
    InProcessFactory,
    question,
    summary_line,
)

pytestmark = pytest.mark.integration

RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"


def _sections() -> dict[tuple[str, str], str]:
    return {(c.runbook_id, c.section): c.text
            for rb in load_runbooks(RUNBOOKS) for c in rb.chunks}


def _documents(sent: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in sent["messages"][0]["content"] if b["type"] == "document"]


async def test_each_cited_part_quotes_the_runbook_section_it_names(
    in_process: InProcessFactory
) -> None:
    sections = _sections()
    async with in_process() as svc:
        body = (await svc.ask(question(0))).json()
        assert body["grounded"] is True and body["grounded_share"] >= 0.5
        assert body["citations"], body
        for c in body["citations"]:
            assert c["quote"] in sections[(c["runbook_id"], c["section"])]
            assert c["text"] in body["answer"]
        assert {c["runbook_id"] for c in body["citations"]} <= set(body["sources"])
        # The request carried the sections as citable documents behind one cache breakpoint,
        # the question delimited after them, and the structured way to decline.
        sent = svc.fake.requests[-1]
        docs = _documents(sent)
        assert docs and all(d["citations"] == {"enabled": True} for d in docs)
        assert [("cache_control" in d) for d in docs] == [False] * (len(docs) - 1) + [True]
        assert sent["messages"][0]["content"][-1]["text"].startswith("<question>")
        assert [t["name"] for t in sent["tools"]] == ["no_answer"]
        assert svc.sample("ai_answers_graded_total", model=PRIMARY) == 1
        assert svc.sample("ai_ungrounded_answers_total", model=PRIMARY) == 0
        again = (await svc.ask(question(0))).json()
        assert again["cached"] is True and again["citations"] == body["citations"]
        assert again["grounded"] is True


async def test_every_quote_is_in_the_runbook_it_names_across_topics(
    in_process: InProcessFactory
) -> None:
    sections = _sections()
    async with in_process() as svc:
        for i in range(len(TOPICS)):
            body = (await svc.ask(question(100 + i))).json()
            assert body["citations"], body["answer"]
            for c in body["citations"]:
                assert c["quote"] in sections[(c["runbook_id"], c["section"])], c


@pytest.mark.parametrize("mode, reason", [("uncited", None),
                                          ("outside", "outside_documents"),
                                          ("mismatch", "text_mismatch")])
async def test_an_answer_without_valid_citations_is_marked_counted_and_never_cached(
    in_process: InProcessFactory, mode: str, reason: str | None
) -> None:
    async with in_process() as svc:
        svc.fake.set_citation_mode(mode)
        body = (await svc.ask(question(1))).json()
        assert body["grounded"] is False and body["grounded_share"] == 0
        assert body["citations"] == [] and body["no_answer"] is False
        again = (await svc.ask(question(1))).json()
        assert again["cached"] is False and again["grounded"] is False
        assert svc.upstream_calls(PRIMARY) == 2  # nothing was cached
        assert svc.sample("ai_ungrounded_answers_total", model=PRIMARY) == 2
        assert svc.sample("ai_answers_graded_total", model=PRIMARY) == 2
        if reason is not None:
            assert svc.sample("ai_citations_rejected_total", reason=reason) > 0


async def test_the_threshold_comes_from_the_policy(in_process: InProcessFactory) -> None:
    async with in_process(quality={"min_grounded_share": 1.0}) as svc:
        body = (await svc.ask(question(2))).json()
        # the fake's uncited lead-in keeps the share under 1: ungrounded at this threshold
        assert 0.5 < body["grounded_share"] < 1.0 and body["grounded"] is False
        assert body["citations"]  # the valid citations are still returned


async def test_a_reworded_refusal_through_the_tool_counts_as_no_answer(
    in_process: InProcessFactory
) -> None:
    async with in_process() as svc:
        svc.fake.set_citation_mode("decline")
        body = (await svc.ask(question(3))).json()
        assert body["no_answer"] is True and body["sources"] == []
        assert body["citations"] == [] and body["grounded"] is None
        assert svc.sample("ai_no_answer_total") == 1
        assert svc.sample("ai_answers_graded_total", model=PRIMARY) == 0
        assert (await svc.ask(question(3))).json()["cached"] is False  # no-answers are not kept


async def test_the_refusal_phrase_still_counts_when_the_model_writes_it(
    in_process: InProcessFactory
) -> None:
    async with in_process() as svc:
        svc.fake.set_reply("I don't have information about that in the runbooks.")
        body = (await svc.ask(question(4))).json()
        assert body["no_answer"] is True
        assert svc.sample("ai_no_answer_total") == 1


async def test_a_reworded_refusal_without_the_tool_is_ungrounded_not_an_answer_we_vouch_for(
    in_process: InProcessFactory
) -> None:
    """The model ignored the tool and reworded its refusal: no phrase match, but no citation
    either, so it is served marked ungrounded and never cached."""
    async with in_process() as svc:
        svc.fake.set_reply("Nothing in these documents covers that, sorry.")
        body = (await svc.ask(question(5))).json()
        assert body["no_answer"] is False and body["grounded"] is False


async def test_offline_excerpts_cite_themselves(in_process: InProcessFactory) -> None:
    sections = _sections()
    async with in_process() as svc:
        body = (await svc.ask(question(6), model="offline")).json()
        assert body["model"] == "offline" and body["grounded"] is True
        assert body["grounded_share"] == 1.0 and body["citations"]
        for c in body["citations"]:
            assert c["quote"] in sections[(c["runbook_id"], c["section"])]
            assert c["quote"] in body["answer"]
        assert svc.sample("ai_answers_graded_total", model="offline") == 0  # no LLM to grade


async def test_the_degraded_cached_rung_serves_the_citations_it_was_stored_with(
    in_process: InProcessFactory
) -> None:
    async with in_process(degradation={"stale_cache": True}) as svc:
        first = (await svc.ask(question(7))).json()
        svc.advance(7200)  # fresh no more, stale still
        svc.fake.fail(500, until_cleared=True)
        down = (await svc.ask(question(7))).json()
        assert down["degraded"] is not None and down["cached"] is True
        assert down["citations"] == first["citations"] and down["grounded"] is True


async def test_the_summary_log_line_says_whether_the_answer_is_grounded(
    in_process: InProcessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with in_process() as svc:
        svc.fake.set_citation_mode("uncited")
        await svc.ask(question(8))
        assert summary_line(caplog)["grounded"] is False
        svc.fake.set_citation_mode("cite")
        await svc.ask(question(9))
        line = summary_line(caplog)
        assert line["grounded"] is True and line["citations"] >= 1
