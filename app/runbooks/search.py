"""BM25 (Okapi) ranking over runbook chunks, and the decision that there is no answer.

Each chunk is indexed with its runbook title and section heading (titles count twice: they
name the symptom). A question is answerable when its best chunk clears an absolute score AND
shares enough distinct terms with the question; otherwise the service says it does not know,
instead of handing the LLM irrelevant context.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass

from app.runbooks.loader import Chunk, Runbook
from app.runbooks.text import tokenize

K1 = 1.2
B = 0.75


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float


@dataclass(frozen=True)
class SearchResult:
    hits: tuple[Hit, ...]

    @property
    def answerable(self) -> bool:
        return bool(self.hits)

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(h.chunk.runbook_id for h in self.hits))

    @property
    def context_hash(self) -> str:
        """Changes whenever any retrieved text changes, so a runbook edit never serves a
        cached answer built from the old text."""
        h = hashlib.sha256()
        for hit in self.hits:
            for part in (hit.chunk.runbook_id, hit.chunk.section, hit.chunk.text):
                h.update(part.encode())
                h.update(b"\0")
        return h.hexdigest()[:16]


class RunbookIndex:
    def __init__(
        self, runbooks: list[Runbook], *, min_score: float = 1.5, min_coverage: float = 0.34
    ) -> None:
        self.runbooks = {rb.id: rb for rb in runbooks}
        self.digest = hashlib.sha256(
            "".join(f"{rb.id}:{rb.digest}" for rb in runbooks).encode()
        ).hexdigest()[:12]
        self._min_score = min_score
        self._min_coverage = min_coverage
        self._chunks: list[Chunk] = []
        self._tf: list[Counter[str]] = []
        self._len: list[int] = []
        df: Counter[str] = Counter()
        for rb in runbooks:
            for chunk in rb.chunks:
                terms = tokenize(chunk.title) * 2 + tokenize(chunk.section) + tokenize(chunk.text)
                tf = Counter(terms)
                self._chunks.append(chunk)
                self._tf.append(tf)
                self._len.append(len(terms))
                df.update(tf.keys())
        n = len(self._chunks)
        self._avg_len = (sum(self._len) / n) if n else 0.0
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}

    def __len__(self) -> int:
        return len(self.runbooks)

    def search(self, question: str, limit: int = 4) -> SearchResult:
        terms = list(dict.fromkeys(tokenize(question)))
        known = [t for t in terms if t in self._idf]
        if not known or not self._chunks:
            return SearchResult(())
        scored: list[tuple[float, int]] = []
        for i, tf in enumerate(self._tf):
            norm = K1 * (1 - B + B * self._len[i] / self._avg_len)
            score = 0.0
            for t in known:
                f = tf.get(t)
                if f:
                    score += self._idf[t] * f * (K1 + 1) / (f + norm)
            if score > 0:
                scored.append((score, i))
        if not scored:
            return SearchResult(())
        scored.sort(key=lambda s: (-s[0], s[1]))
        best_score, best = scored[0]
        coverage = sum(1 for t in terms if t in self._tf[best]) / len(terms)
        if best_score < self._min_score or coverage < self._min_coverage:
            return SearchResult(())
        # Keep chunks that are close to the best one; a weak tail is noise, not a source.
        cutoff = best_score * 0.35
        hits = tuple(Hit(self._chunks[i], s) for s, i in scored[:limit] if s >= cutoff)
        return SearchResult(hits)
