"""The offline answer leads with steps: the top runbook's Diagnosis/Mitigation sections come
first for a "what do I do" question, on our runbooks and on a public corpus we did not write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.config import BUNDLED_RUNBOOKS
from app.llm.offline import offline_answer, select_excerpts
from app.runbooks.loader import load_corpus
from app.runbooks.results import Hit, SearchResult
from app.runbooks.search import RunbookIndex
from eval.retrieval import QUESTIONS, load_questions

WHAT_NOW = [
    "pod OOMKilled, what now?",
    "my container keeps getting OOM killed, how do I fix it",
    "exit code 137 on the payments pod, what do I do",
    "OOMKilled again. steps?",
]
STEPS = {"Diagnosis", "Mitigation"}


@pytest.fixture(scope="module")
def index() -> RunbookIndex:
    return RunbookIndex(load_corpus(BUNDLED_RUNBOOKS).runbooks)


@pytest.mark.parametrize("question", WHAT_NOW)
def test_what_now_questions_open_with_diagnosis_then_mitigation(
        index: RunbookIndex, question: str) -> None:
    result = index.search(question, 4)
    excerpts = select_excerpts(result, question=question, index=index)

    assert [(e.runbook_id, e.section) for e in excerpts[:2]] == [
        ("pod-oomkilled", "Diagnosis"), ("pod-oomkilled", "Mitigation")]
    text = offline_answer(result, question=question, index=index)
    first = text.index("## ")
    assert text[first:].startswith("## Pod OOMKilled")
    assert text.index("— Diagnosis") < text.index("— Mitigation")
    assert "— Meaning" not in text[: text.index("— Mitigation")]
    # Exactly the text shown: the lead's citations quote these objects.
    for excerpt in excerpts:
        assert excerpt.text in text


def test_steps_come_from_the_runbook_when_the_search_did_not_return_them(
        index: RunbookIndex) -> None:
    question = "pod OOMKilled, what now?"
    only_meaning = SearchResult(tuple(h for h in index.search(question, 4).hits
                                      if h.chunk.section == "Meaning"))
    assert [h.chunk.section for h in only_meaning.hits] == ["Meaning"]

    excerpts = select_excerpts(only_meaning, question=question, index=index)

    assert [e.section for e in excerpts] == ["Diagnosis", "Mitigation", "Meaning"]


def test_without_the_index_the_retrieved_steps_still_lead(index: RunbookIndex) -> None:
    question = "pod OOMKilled, what now?"
    result = index.search(question, 4)
    assert result.hits[0].chunk.section not in STEPS  # what the ranker puts first

    excerpts = select_excerpts(result, question=question)

    assert {e.section for e in excerpts[:2]} == STEPS


def test_a_question_about_meaning_keeps_the_ranked_order(index: RunbookIndex) -> None:
    question = "what does OOMKilled mean?"
    result = index.search(question, 4)

    excerpts = select_excerpts(result, question=question, index=index)

    assert [e.section for e in excerpts] == [h.chunk.section for h in result.hits[:3]]
    assert excerpts[0].section == "Meaning"


def test_long_sections_are_cut_and_the_cut_text_is_what_is_selected(
        index: RunbookIndex) -> None:
    [hit] = index.search("pod OOMKilled, what now?", 1).hits
    long = type(hit.chunk)(hit.chunk.runbook_id, hit.chunk.title, "Mitigation",
                           "kubectl describe pod x\n" * 100)
    [excerpt] = select_excerpts(SearchResult((Hit(long, 1.0),)), max_excerpts=1)
    assert len(excerpt.text) < 1000 and excerpt.text.endswith("…")
    assert excerpt.text in offline_answer(SearchResult((Hit(long, 1.0),)), 1)


def test_nothing_retrieved_is_the_no_answer_text() -> None:
    assert select_excerpts(SearchResult(())) == []
    assert "runbook" in offline_answer(SearchResult(())).lower()


@pytest.mark.skipif(not os.environ.get("EXTERNAL_CORPUS"),
                    reason="EXTERNAL_CORPUS (prometheus-operator/runbooks) not given")
def test_public_corpus_answers_lead_with_steps() -> None:
    corpus = load_corpus(Path(os.environ["EXTERNAL_CORPUS"]))
    index = RunbookIndex(corpus.runbooks)
    questions = [q for q in load_questions(QUESTIONS / "prometheus-operator-runbooks.yaml")
                 if q.expect]
    led_by_steps = 0
    for q in questions:
        question = f"{q.text}, what do I do?"
        result = index.search(question, 4)
        if not result.hits:
            continue
        excerpts = select_excerpts(result, question=question, index=index)
        led_by_steps += excerpts[0].section in STEPS
    # Every runbook there has Diagnosis and Mitigation: every answered question leads with them.
    assert led_by_steps >= len(questions) * 0.9
