"""Our BM25 against its definition, computed the slow way: one document and one term at a time."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from app.runbooks.sparse import K1, B, SparseIndex


def bm25_by_definition(documents: list[list[str]], query: list[str]) -> list[float]:
    n = len(documents)
    avg = sum(len(d) for d in documents) / n
    scores = []
    for doc in documents:
        total = 0.0
        for term in query:  # a term asked twice counts twice
            df = sum(1 for d in documents if term in d)
            tf = doc.count(term)
            if not df or not tf:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            total += idf * tf / (tf + K1 * (1 - B + B * len(doc) / avg))
        scores.append(total)
    return scores


DOCS = [
    ["pod", "crash", "loop", "restart", "pod"],
    ["disk", "full", "node", "disk", "disk", "evict"],
    ["pod", "pending", "node", "schedul"],
    ["certificat", "expir", "renew"],
    ["oom", "kill", "memori", "limit", "pod", "restart", "memori"],
]


@pytest.mark.parametrize("query", [
    ["pod"], ["disk", "node"], ["memori", "memori"], ["pod", "restart", "oom"], ["unknown"], [],
])
def test_scores_are_bm25_by_its_definition(query: list[str]) -> None:
    got = SparseIndex(DOCS).scores(query)
    assert got.dtype == np.float32
    assert got.tolist() == pytest.approx(bm25_by_definition(DOCS, query), rel=1e-6, abs=1e-7)


def test_scores_match_the_definition_on_random_documents() -> None:
    rng = random.Random(3)
    words = [f"w{i}" for i in range(40)]
    docs = [[rng.choice(words) for _ in range(rng.randint(1, 30))] for _ in range(60)]
    index = SparseIndex(docs)
    for _ in range(50):
        query = [rng.choice(words) for _ in range(rng.randint(1, 6))]
        assert index.scores(query).tolist() == pytest.approx(
            bm25_by_definition(docs, query), rel=1e-5, abs=1e-6)


def test_a_rarer_term_weighs_more_and_a_longer_document_less() -> None:
    index = SparseIndex(DOCS)
    assert index.scores(["certificat"]).max() > index.scores(["pod"]).max()
    pod = index.scores(["pod"])
    assert pod[2] > pod[4]  # one "pod" each; document 4 is longer


def test_known_terms_and_empty_corpora() -> None:
    index = SparseIndex(DOCS)
    assert index.knows("disk") and not index.knows("unknown")
    assert SparseIndex([]).scores(["pod"]).shape == (0,)
    empty = SparseIndex([[], []])
    assert empty.scores(["pod"]).tolist() == [0.0, 0.0] and not empty.knows("pod")
