"""The lexical ranker: Okapi BM25 from `bm25s` (a sparse matrix of precomputed term scores, so
a question only touches the postings of its own terms) over our tokenizer's terms.

Each chunk is indexed with its runbook title and section heading (titles count twice: they
name the symptom).
"""

from __future__ import annotations

import bm25s
import numpy as np
import numpy.typing as npt

from app.runbooks.loader import Chunk
from app.runbooks.text import tokenize

K1 = 1.2
B = 0.75


def chunk_terms(chunk: Chunk) -> list[str]:
    return tokenize(chunk.title) * 2 + tokenize(chunk.section) + tokenize(chunk.text)


class SparseIndex:
    def __init__(self, documents: list[list[str]]) -> None:
        self._size = len(documents)
        self._bm25 = bm25s.BM25(k1=K1, b=B, method="lucene")
        if documents:
            # bm25s needs at least one term per document to build its matrix
            self._bm25.index([d or ["\0"] for d in documents], show_progress=False)
        self._vocab: dict[str, int] = dict(getattr(self._bm25, "vocab_dict", None) or {})

    def knows(self, term: str) -> bool:
        return term in self._vocab

    def scores(self, terms: list[str]) -> npt.NDArray[np.float32]:
        known = [t for t in terms if t in self._vocab]
        if not known or not self._size:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)
