"""One bucket of the semantic tier, laid out so that a lookup's Python work does not grow with it.

A lookup runs on every paid question (issue 14): it used to `np.stack` every entry's vector, scan
every entry for its age and, when the bucket was full, `min()` over it for the oldest. Here a
bucket keeps, per vector size, one contiguous float32 matrix with parallel arrays (row -> answer
key, question, stored_at, insertion order) that an add or a removal updates in place (a removal
moves the last row into the hole: O(1)); a lookup is one matrix-vector product and, only when
something is at or above the threshold, a sort of those candidates. Age is a heap of
(stored_at, insertion order, answer key), oldest first: expiry and eviction look at its top
instead of the whole bucket. Heap items of entries since removed or re-added are skipped when
they surface and the heap is rebuilt when they outnumber the live ones.

Semantics are those of a list in insertion order: candidates are ranked by similarity, ties by
first insertion (a re-added entry keeps its place, as a dict key does), the oldest by stored_at
(ties: first inserted) goes first. A vector of another size (another embedding model) is never
compared with the query.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.cache.semantic_guard import GuardReason, judge

Vector = npt.NDArray[np.float32]
MAX_GUARD_CHECKS = 8  # candidates above the threshold the guard may veto before giving up


@dataclass(frozen=True)
class Match:
    answer_key: str
    question: str
    similarity: float


@dataclass(frozen=True)
class SemanticLookup:
    match: Match | None = None
    best_similarity: float | None = None  # over the whole bucket; None when it was empty
    rejected: tuple[GuardReason, ...] = ()  # guard vetoes of candidates above the threshold

    @property
    def rejected_by_guard(self) -> bool:
        """A miss that similarity alone would have made a hit."""
        return self.match is None and bool(self.rejected)


class _Rows:
    """The entries of one vector size: row i is keys[i], questions[i], matrix[i], ..."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.matrix: Vector = np.empty((1, dim), dtype=np.float32)
        self.stored = np.empty(1, dtype=np.float64)
        self.order = np.empty(1, dtype=np.int64)  # first insertion, for ties
        self.keys: list[str] = []
        self.questions: list[str] = []
        self.row: dict[str, int] = {}

    def put(self, key: str, question: str, vector: Vector, stored_at: float, order: int) -> None:
        i = self.row.get(key)
        if i is None:
            i = len(self.keys)
            if i == len(self.stored):  # grow by doubling: amortised O(1) per add
                self._resize(2 * i)
            self.keys.append(key)
            self.questions.append(question)
            self.row[key] = i
            self.order[i] = order
        else:
            self.questions[i] = question
        self.matrix[i] = vector
        self.stored[i] = stored_at

    def drop(self, key: str) -> None:
        i = self.row.pop(key)
        last = len(self.keys) - 1
        if i != last:  # the last row fills the hole
            moved = self.keys[last]
            self.matrix[i] = self.matrix[last]
            self.stored[i] = self.stored[last]
            self.order[i] = self.order[last]
            self.keys[i] = moved
            self.questions[i] = self.questions[last]
            self.row[moved] = i
        self.keys.pop()
        self.questions.pop()
        if 4 * last < len(self.stored) and len(self.stored) > 8:  # a quarter full: halve
            self._resize(len(self.stored) // 2)

    def _resize(self, rows: int) -> None:
        """Capacity follows the entries (a bucket a storm filled does not keep 128 rows)."""
        n = len(self.keys)
        matrix = np.empty((rows, self.dim), dtype=np.float32)
        stored = np.empty(rows, dtype=np.float64)
        order = np.empty(rows, dtype=np.int64)
        matrix[:n], stored[:n], order[:n] = self.matrix[:n], self.stored[:n], self.order[:n]
        self.matrix, self.stored, self.order = matrix, stored, order


class Bucket:
    def __init__(self) -> None:
        self._by_size: dict[int, _Rows] = {}
        self._where: dict[str, _Rows] = {}  # answer key -> its rows
        self._age: list[tuple[float, int, str]] = []  # heap; stale items skipped
        self._next = 0

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, key: str) -> bool:
        return key in self._where

    def keys(self) -> list[str]:
        return list(self._where)

    def put(self, key: str, question: str, vector: Vector, stored_at: float) -> None:
        """Add or refresh (a refreshed entry keeps its place among ties, takes the new age)."""
        vector = vector.reshape(-1)
        size = vector.shape[0]
        rows = self._where.get(key)
        if rows is not None:
            order = int(rows.order[rows.row[key]])
            if rows.dim != size:
                self._drop_row(key, rows)
        else:
            order, self._next = self._next, self._next + 1
        rows = self._by_size.get(size)
        if rows is None:
            rows = self._by_size[size] = _Rows(size)
        rows.put(key, question, vector, stored_at, order)
        self._where[key] = rows
        heapq.heappush(self._age, (stored_at, order, key))
        if len(self._age) > 2 * len(self._where) + 16:  # mostly stale: one item per entry
            self._age = [(float(r.stored[r.row[k]]), int(r.order[r.row[k]]), k)
                         for k, r in self._where.items()]
            heapq.heapify(self._age)

    def drop(self, key: str) -> bool:
        rows = self._where.pop(key, None)
        if rows is None:
            return False
        self._drop_row(key, rows)
        return True

    def _drop_row(self, key: str, rows: _Rows) -> None:
        rows.drop(key)
        if not rows.keys:
            del self._by_size[rows.dim]

    def _current(self, item: tuple[float, int, str]) -> bool:
        stored_at, order, key = item
        rows = self._where.get(key)
        if rows is None:
            return False
        i = rows.row[key]
        return bool(rows.stored[i] == stored_at and rows.order[i] == order)

    def oldest(self) -> tuple[str, float] | None:
        """The entry with the smallest stored_at (ties: first inserted), None when empty."""
        while self._age and not self._current(self._age[0]):
            heapq.heappop(self._age)
        return (self._age[0][2], self._age[0][0]) if self._age else None

    def expire(self, cutoff: float) -> list[str]:
        """Drop the entries stored at or before `cutoff`; their answer keys."""
        dropped = []
        while (top := self.oldest()) is not None and top[1] <= cutoff:
            self.drop(top[0])
            dropped.append(top[0])
        return dropped

    def match(self, question: str, vector: Vector, threshold: float,
              newer_than: float | None = None) -> SemanticLookup:
        """The most similar entry >= threshold that the guard accepts; entries stored at or
        before `newer_than` are left out (as if absent)."""
        rows = self._by_size.get(vector.shape[0]) if vector.ndim == 1 else None
        if rows is None:  # empty, or only vectors of another size
            return SemanticLookup()
        n = len(rows.keys)
        sims = rows.matrix[:n] @ vector.astype(np.float32, copy=False)
        if newer_than is not None:
            live = rows.stored[:n] > newer_than
            if not live.any():
                return SemanticLookup()
            sims = np.where(live, sims, np.float32(-np.inf))
        best = float(sims.max())
        if not best >= threshold:
            return SemanticLookup(None, best)
        candidates = np.flatnonzero(sims >= threshold)
        ranked = candidates[np.lexsort((rows.order[candidates], -sims[candidates]))]
        rejected: list[GuardReason] = []
        for i in ranked[:MAX_GUARD_CHECKS].tolist():
            verdict = judge(rows.questions[i], question)
            if verdict.ok:
                return SemanticLookup(Match(rows.keys[i], rows.questions[i], float(sims[i])),
                                      best, tuple(rejected))
            rejected.append(verdict.reason)
        return SemanticLookup(None, best, tuple(rejected))
