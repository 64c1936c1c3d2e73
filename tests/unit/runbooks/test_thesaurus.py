"""Query expansion with operators' words (app/runbooks/thesaurus.py)."""

from __future__ import annotations

import pytest

from app.runbooks import search
from app.runbooks.loader import parse_runbook
from app.runbooks.search import RunbookIndex
from app.runbooks.text import tokenize
from app.runbooks.thesaurus import GROUPS, related


def test_a_term_pulls_in_its_group_and_nothing_it_already_has() -> None:
    mates = related(tokenize("a machine dropped out"))
    assert "node" in mates and "notready" in mates
    assert not set(mates) & set(tokenize("a machine dropped out"))


def test_a_word_outside_every_group_adds_nothing() -> None:
    assert related(tokenize("sourdough recipe")) == []


def test_every_group_holds_at_least_two_terms_after_stemming() -> None:
    for group in GROUPS:
        terms = {t for word in group.split() for t in tokenize(word)}
        assert len(terms) >= 2, group


@pytest.fixture()
def two_runbooks() -> RunbookIndex:
    # Neither runbook shares a word with the question below: only the thesaurus connects
    # "machine ... dropped" to "Node NotReady", and "restarts" to "CrashLoopBackOff".
    return RunbookIndex([
        parse_runbook("node-notready", "# Node NotReady\n## Meaning\nThe kubelet stopped "
                      "posting status; the node is NotReady and its pods are rescheduled."),
        parse_runbook("crashloop", "# CrashLoopBackOff\n## Meaning\nA container exits and "
                      "kubelet backs off before starting it again."),
    ], min_score=0.0)


def test_operators_words_find_the_runbook_that_uses_the_component_name(
    two_runbooks: RunbookIndex,
) -> None:
    assert two_runbooks.search("a machine dropped off", mode="sparse").sources[0] == \
        "node-notready"
    assert two_runbooks.search("restarts keep climbing", mode="sparse").sources[0] == \
        "crashloop"


def test_without_expansion_those_questions_find_nothing_lexically(
    two_runbooks: RunbookIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "W_EXPANSION", 0.0)
    hits = two_runbooks.search("a machine dropped off", mode="sparse").hits
    assert all(h.score <= 1e-3 for h in hits)  # BM25 is zero everywhere: nothing matched
