"""Retrieval quality must not regress: the labelled questions of eval/questions/ours.yaml
against our runbooks (`make eval-retrieval` prints the full table)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.config import BUNDLED_RUNBOOKS
from app.runbooks.loader import load_corpus
from app.runbooks.search import RunbookIndex
from eval.retrieval import QUESTIONS, Scores, load_questions, score


@pytest.fixture(scope="module")
def results() -> dict[str, Scores]:
    index = RunbookIndex(load_corpus(BUNDLED_RUNBOOKS).runbooks)
    questions = load_questions(QUESTIONS / "ours.yaml")
    return {mode: score(index, questions, mode) for mode in ("sparse", "hybrid")}


def test_the_question_set_is_big_enough_to_mean_something(results: dict[str, Scores]) -> None:
    assert results["hybrid"].answerable >= 80
    assert results["hybrid"].unanswerable >= 15


def test_hybrid_does_not_regress(results: dict[str, Scores]) -> None:
    hybrid = results["hybrid"]
    # Measured 0.920 / 0.977 / 0.944 / 0.923 / 0.667 with the operators' thesaurus
    # (app/runbooks/thesaurus.py) and weights 0.5 / 0.3 / 0.2: 80 of 87 first, 12 of 18
    # off-topic questions refused. The expansion that finds "restarts keep climbing" also lets
    # "vault is sealed after a restart" through: the no-answer gate stays the weak part.
    assert hybrid.recall_at_1 >= 0.9  # the target; one more miss still passes
    assert hybrid.recall_at_4 >= 0.95
    assert hybrid.mrr >= 0.93
    assert hybrid.no_answer_precision >= 0.9
    assert hybrid.no_answer_recall >= 0.66


def test_hybrid_beats_sparse_alone(results: dict[str, Scores]) -> None:
    hybrid, sparse = results["hybrid"], results["sparse"]
    assert hybrid.recall_at_1 > sparse.recall_at_1
    assert hybrid.no_answer_precision > sparse.no_answer_precision


@pytest.mark.skipif(not os.environ.get("EXTERNAL_CORPUS"),
                    reason="EXTERNAL_CORPUS (prometheus-operator/runbooks) not given")
def test_public_corpus_does_not_regress() -> None:
    corpus = load_corpus(Path(os.environ["EXTERNAL_CORPUS"]))
    index = RunbookIndex(corpus.runbooks)
    hybrid = score(index, load_questions(QUESTIONS / "prometheus-operator-runbooks.yaml"),
                   "hybrid")
    assert hybrid.recall_at_1 >= 0.75  # measured 0.769
    assert hybrid.no_answer_precision >= 0.9
