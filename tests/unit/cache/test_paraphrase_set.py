"""The semantic cache's default threshold and guard on the labelled pairs of
eval/questions/paraphrases.yaml, retrieved by the real RunbookIndex over runbooks/: every hard
negative is a miss, and the hit rate is the one docs/semantic-cache.md reports."""

from __future__ import annotations

from collections import Counter

import pytest

from app.config import BUNDLED_RUNBOOKS, CachePolicy
from app.runbooks.loader import load_corpus
from app.runbooks.search import RunbookIndex
from eval.cache_threshold import Pair, accepted, load_pairs, measure, rates

DEFAULT = CachePolicy().semantic_threshold
REPORTED_HIT_RATE = 0.857  # docs/semantic-cache.md, at the default threshold
MARGIN = 0.03  # one pair of 42


@pytest.fixture(scope="module")
def pairs() -> list[Pair]:
    return measure(load_pairs(), RunbookIndex(load_corpus(BUNDLED_RUNBOOKS).runbooks))


def test_the_set_is_big_enough_and_has_every_kind_of_negative(pairs: list[Pair]) -> None:
    assert len(pairs) >= 60
    kinds = Counter(p.kind for p in pairs)
    assert kinds["paraphrase"] >= 30
    assert all(kinds[k] >= 8 for k in ("negation", "opposite", "entity", "content")), kinds


def test_every_hard_negative_is_a_miss_at_the_default(pairs: list[Pair]) -> None:
    false_hits = [(p.kind, p.a, p.b) for p in pairs
                  if not p.paraphrase and accepted(p, DEFAULT, guard=True)]
    assert false_hits == []


def test_the_hit_rate_is_the_reported_one(pairs: list[Pair]) -> None:
    hit, _ = rates(pairs, DEFAULT, guard=True)
    assert hit >= REPORTED_HIT_RATE - MARGIN


def test_similarity_alone_would_serve_wrong_answers_at_the_default(pairs: list[Pair]) -> None:
    # what the guard is for: without it the same threshold accepts many negatives
    _, false_without_guard = rates(pairs, DEFAULT, guard=False)
    assert false_without_guard > 0.2
