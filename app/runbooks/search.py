"""Hybrid retrieval over runbooks, and the decision that there is no answer.

Three signals, in order of authority:
1. Alert names. A question that names an alert (`KubePodCrashLooping`, `AIBudgetExhausted`)
   goes straight to the runbook that declares it (loader: file name, heading, front matter).
2. Sparse: BM25 (`app.runbooks.sparse`) over our tokenizer's terms, per section. Exact
   symptoms, error strings, exit codes.
3. Dense: cosine similarity between the question and each runbook's title and sentences
   (`app.runbooks.vectors`), from a small static embedding model shipped in a wheel.
   Operators' own words.
A runbook scores its best section (sparse) and its best sentence and its title (dense); the
three are min-max normalised over the corpus and summed with the weights below (tuned on
eval/questions/ours.yaml; docs/retrieval.md shows the alternatives measured, RRF among them).
The answer's sections are the best runbook's best sections, then close runners-up.

No answer: a question is answerable when it names an alert, or when the best runbook shares
enough with the question, in terms and in meaning (thresholds: `Gate`). An off-topic question
gets no sources, so the service says it does not know instead of handing the LLM irrelevant
context.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from app.runbooks.embedder import Embedder, Matrix, default_embedder
from app.runbooks.loader import Runbook
from app.runbooks.results import Hit, SearchResult, Vector, section_digest
from app.runbooks.sparse import SparseIndex, chunk_terms
from app.runbooks.text import tokenize
from app.runbooks.thesaurus import related
from app.runbooks.vectors import TITLE, RunbookVectors, embed_runbooks

Mode = Literal["sparse", "dense", "hybrid"]
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,}")
_NOT_WORD = re.compile(r"[^\w]+")
W_SPARSE, W_SENTENCE, W_TITLE = 0.5, 0.3, 0.2
W_EXPANSION = 0.15  # BM25 weight of a question term's thesaurus group-mates
FULL_SCAN_UNITS = 20_000  # up to this many units (about 3,000 sections) every one is compared
DENSE_CANDIDATES = 64
RUNNER_UP = 0.85  # other runbooks' sections are cited when they score this close to the best
# Up to this many sections a search costs well under a millisecond (0.3-0.5 ms at 20-220
# sections, bench/results/retrieval.md): it runs on the event loop, where a worker-thread hop
# (and the GIL hand-off back) would cost as much again. Larger corpora search in a thread.
INLINE_MAX_SECTIONS = 500


@dataclass(frozen=True)
class Gate:
    """When the best runbook counts as an answer. Hybrid: its best section's BM25 score is at
    least `sparse_min_score` AND (share of the question's distinct terms found in it) +
    (cosine of its best sentence) is at least `min_evidence`. Sparse alone: the BM25 score and
    `min_coverage` (the previous gate). Dense alone: the cosine is at least `min_dense`.
    Set on eval/questions/ours.yaml for no-answer precision >= 0.9 (docs/retrieval.md)."""

    sparse_min_score: float = 1.5
    min_evidence: float = 0.55
    min_coverage: float = 0.34
    min_dense: float = 0.45


@dataclass(frozen=True)
class _Terms:
    chunks: list[list[str]]  # BM25 terms of each section
    book: frozenset[str]  # every term of the runbook (coverage in the gate)


def _terms_of(runbook: Runbook) -> _Terms:
    chunks = [chunk_terms(c) for c in runbook.chunks]
    return _Terms(chunks, frozenset(t for c in chunks for t in c))


class RunbookIndex:
    def __init__(
        self,
        runbooks: list[Runbook],
        *,
        vectors: Mapping[str, RunbookVectors] | None = None,
        terms: Mapping[str, _Terms] | None = None,
        embedder: Embedder | None = None,
        gate: Gate | None = None,
        min_score: float | None = None,
    ) -> None:
        """`vectors` maps a runbook's digest to its embeddings (the embedding cache); the
        runbooks missing from it are embedded here. `min_score=0` turns the no-answer gate
        off (tests of ranking alone)."""
        runbooks = [rb for rb in runbooks if rb.chunks]
        self.runbooks = {rb.id: rb for rb in runbooks}
        self.digest = hashlib.sha256(
            "".join(f"{rb.id}:{rb.digest}" for rb in runbooks).encode()
        ).hexdigest()[:12]
        self._gate = gate or Gate()
        if min_score is not None:
            off = min_score <= 0
            self._gate = Gate(sparse_min_score=min_score,
                              min_evidence=0.0 if off else self._gate.min_evidence,
                              min_coverage=0.0 if off else self._gate.min_coverage,
                              min_dense=-1.0 if off else self._gate.min_dense)
        self._ids = [rb.id for rb in runbooks]
        self._chunks = [c for rb in runbooks for c in rb.chunks]
        self._section_digests = frozenset(section_digest(c) for c in self._chunks)
        self._owner = np.array([b for b, rb in enumerate(runbooks) for _ in rb.chunks],
                               dtype=np.int64)
        # Tokenized sections, by runbook digest: reused by the next build like the embeddings
        # (tokenizing is pure Python, the slowest part of a re-index after the embeddings).
        known = terms or {}
        self.terms: dict[str, _Terms] = {
            rb.digest: known.get(rb.digest) or _terms_of(rb) for rb in runbooks}
        self._sparse = SparseIndex([t for rb in runbooks for t in self.terms[rb.digest].chunks])
        self._book_terms = [self.terms[rb.digest].book for rb in runbooks]
        self._alerts = {a.lower(): b for b, rb in enumerate(runbooks) for a in rb.alerts}
        self.vectors, embedded = self._embed(runbooks, vectors or {}, embedder)
        # Units and sections are stored contiguously per runbook, so per-runbook and
        # per-section maxima are np.maximum.reduceat over start offsets (every runbook has a
        # section and a title unit, every section at least one unit: see vectors.units_of).
        parts = [self.vectors[rb.digest] for rb in runbooks]
        self._book_chunk_start = np.cumsum([0] + [len(rb.chunks) for rb in runbooks])[:-1]
        # A cold build embedded every runbook in one call, in this order: that matrix is the
        # stack already (a copy would be 67 MB more at the build's peak at 10,000 sections).
        # Reused and new rows mixed (a re-index) are stacked into a new matrix.
        if embedded is not None:
            self._units = embedded
        else:
            self._units = (np.vstack([p.units for p in parts]) if parts
                           else np.zeros((0, 1), dtype=np.float32))
        self._book_unit_start = np.cumsum([0] + [p.units.shape[0] for p in parts])[:-1]
        # Keep each runbook's embeddings (for the next build's reuse) as views into the stacked
        # matrix, not as a second copy of it.
        self.vectors = {
            rb.digest: RunbookVectors(self._units[start:start + p.units.shape[0]],
                                      p.chunk_of_unit)
            for rb, p, start in zip(runbooks, parts, self._book_unit_start.tolist(), strict=True)
        }
        unit_chunk = np.concatenate(
            [np.where(p.chunk_of_unit == TITLE, -1, p.chunk_of_unit + self._book_chunk_start[b])
             for b, p in enumerate(parts)] or [np.zeros(0, dtype=np.int64)]).astype(np.int64)
        self._title_rows = np.flatnonzero(unit_chunk == -1)
        self._body_rows = np.flatnonzero(unit_chunk >= 0)
        self._chunk_unit_start = np.searchsorted(unit_chunk[self._body_rows],
                                                 np.arange(len(self._chunks)))
        self._book_unit_end = np.append(self._book_unit_start[1:], self._units.shape[0])
        # The coarse pass of a large corpus: titles and whole-section units (each section's
        # first unit), a fifth of the rows.
        self._coarse_rows = np.union1d(self._title_rows,
                                       self._body_rows[self._chunk_unit_start])
        self._coarse = (np.ascontiguousarray(self._units[self._coarse_rows])
                        if self._units.shape[0] > FULL_SCAN_UNITS else self._units[:0])

    def _embed(self, runbooks: list[Runbook], cached: Mapping[str, RunbookVectors],
               embedder: Embedder | None) -> tuple[dict[str, RunbookVectors], Matrix | None]:
        """Each runbook's embeddings, reused or computed; and the matrix of the one embedding
        call when it covered every runbook, in order (nothing reused: a cold build)."""
        out = {rb.digest: cached[rb.digest] for rb in runbooks if rb.digest in cached}
        missing = [rb for rb in runbooks if rb.digest not in out]
        self._embedder = embedder
        if runbooks:
            self._embedder = embedder or default_embedder()
        if not missing:
            return out, None
        assert self._embedder is not None
        matrix, vectors = embed_runbooks(missing, self._embedder)
        out.update((rb.digest, v) for rb, v in zip(missing, vectors, strict=True))
        return out, matrix if len(missing) == len(runbooks) else None

    def __len__(self) -> int:
        return len(self.runbooks)

    @property
    def chunk_count(self) -> int:
        return len(self._chunks)

    @property
    def runs_inline(self) -> bool:
        """Small enough to search on the event loop (INLINE_MAX_SECTIONS)."""
        return len(self._chunks) <= INLINE_MAX_SECTIONS

    def has_sections(self, digests: tuple[str, ...]) -> bool:
        """Every one of these sections is still in the corpus, unchanged: an answer built on
        them still stands. Answers with no recorded sections never do."""
        return bool(digests) and all(d in self._section_digests for d in digests)

    def alert_runbook(self, question: str) -> int | None:
        for word in _IDENTIFIER.findall(question):
            found = self._alerts.get(word.lower())
            if found is not None:
                return found
        return None

    def search(self, question: str, limit: int = 4, mode: Mode = "hybrid",
               runner_up: float = RUNNER_UP) -> SearchResult:
        """The best sections for the question: the best runbook's, best first, then those of
        runbooks scoring at least `runner_up` of the best (0: rank all, for evaluation)."""
        if not self._chunks or limit <= 0:
            return SearchResult(())
        terms = list(dict.fromkeys(tokenize(question)))
        vector: Vector | None = None
        chunk_sparse = self._sparse.scores(terms)
        mates = related(terms) if mode != "dense" else []
        if mates:  # operators' words for the runbooks' (thesaurus.py), at a reduced weight
            chunk_sparse = chunk_sparse + W_EXPANSION * self._sparse.scores(mates)
        book_sparse = np.maximum.reduceat(chunk_sparse, self._book_chunk_start)
        chunk_dense = np.zeros(len(self._chunks), dtype=np.float32)
        book_sentence = np.zeros(len(self._ids), dtype=np.float32)
        book_title = np.zeros(len(self._ids), dtype=np.float32)
        if mode != "sparse":
            assert self._embedder is not None
            # case and punctuation folded, as the answer cache folds its key: questions that
            # share a cache entry must retrieve the same sections
            folded = _NOT_WORD.sub(" ", question.lower()).strip()
            vector = self._embedder.embed([folded])[0]
            sims = self._similarities(vector, book_sparse)
            book_sentence = np.maximum.reduceat(sims, self._book_unit_start)
            book_title = sims[self._title_rows]
            chunk_dense = np.maximum.reduceat(sims[self._body_rows], self._chunk_unit_start)
        if mode == "sparse":
            book = book_sparse.astype(np.float64)
        elif mode == "dense":
            book = 0.6 * _norm(book_sentence) + 0.4 * _norm(book_title)
        else:
            book = (W_SPARSE * _norm(book_sparse) + W_SENTENCE * _norm(book_sentence)
                    + W_TITLE * _norm(book_title))
        named = self.alert_runbook(question)
        if named is not None:
            book[named] = book.max() + 1.0
        best = int(np.argmax(book))
        if named is None and not self._answerable(terms, best, book_sparse, book_sentence,
                                                  mode):
            return SearchResult(())
        # sections: by their runbook's score, then by their own (sparse + dense) score
        own = 0.5 * _norm(chunk_sparse) + 0.5 * _norm(chunk_dense)
        close = book[self._owner] >= (book[best] * runner_up if book[best] > 0 else book[best])
        close |= self._owner == best
        candidates = np.flatnonzero(close)
        order = candidates[np.lexsort((-own[candidates], -book[self._owner[candidates]]))]
        hits = tuple(Hit(self._chunks[i], float(book[self._owner[i]] + 1e-3 * own[i]))
                     for i in order[:limit].tolist())
        space = self._embedder.model_id if vector is not None and self._embedder else ""
        return SearchResult(hits, self.digest, vector, space)

    def _similarities(self, q: Vector, book_sparse: Vector) -> Vector:
        """Cosine of the question with every unit. Over FULL_SCAN_UNITS units the scan is
        two-stage: titles and whole sections for every runbook, then every sentence only for
        the DENSE_CANDIDATES best runbooks by BM25 and by that coarse pass (the others keep
        their coarse score, which never exceeds their full one). The scan reads the whole
        matrix per question and is memory-bound, so this keeps a 10,000-section search fast."""
        if self._units.shape[0] <= FULL_SCAN_UNITS:
            return np.asarray(self._units @ q, dtype=np.float32)
        sims = np.full(self._units.shape[0], -1.0, dtype=np.float32)
        sims[self._coarse_rows] = self._coarse @ q
        coarse_book = np.maximum.reduceat(sims, self._book_unit_start)
        k = min(DENSE_CANDIDATES, len(self._ids))
        candidates = np.union1d(np.argpartition(-book_sparse, k - 1)[:k],
                                np.argpartition(-coarse_book, k - 1)[:k])
        rows = np.concatenate([np.arange(self._book_unit_start[b], self._book_unit_end[b])
                               for b in candidates.tolist()])
        sims[rows] = self._units[rows] @ q
        return sims

    def _answerable(self, terms: list[str], best: int, sparse: Vector, sentence: Vector,
                    mode: Mode) -> bool:
        g = self._gate
        book = self._book_terms[best]
        coverage = sum(1 for t in terms if t in book) / len(terms) if terms else 0.0
        if mode == "sparse":
            return bool(sparse[best] >= g.sparse_min_score) and coverage >= g.min_coverage
        similarity = float(sentence[best])
        if mode == "dense":
            return similarity >= g.min_dense
        return bool(sparse[best] >= g.sparse_min_score) and coverage + similarity >= g.min_evidence


def _norm(x: Vector) -> npt.NDArray[np.float64]:
    # the ufuncs' own reductions and in-place arithmetic: the same numbers as x.min() and
    # (x - lo) / (hi - lo), without the wrappers and temporaries (five calls per question)
    lo, hi = float(np.minimum.reduce(x)), float(np.maximum.reduce(x))
    if hi - lo <= 1e-9:
        return np.zeros(x.shape[0], dtype=np.float64)
    out = x.astype(np.float64)
    out -= lo
    out /= hi - lo
    return out
