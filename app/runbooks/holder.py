"""The active runbook index, rebuilt in a worker thread and swapped whole (readers never see a
half-built index).

A build loads the corpus, takes each runbook's parse, terms and embeddings from the index it
replaces (or its embeddings from the disk cache) when its content hash is unchanged, processes
only the rest, and builds the sparse and dense indexes. Only then is the new index assigned, in
one step, on the event loop. Re-indexing after an edit therefore costs one file's work plus the
BM25 and matrix builds, and the event loop keeps serving meanwhile (see `_build` on the GC).

A corpus that cannot be read or has no runbooks at start leaves the pod not ready with the
reason in /health/ready, instead of crashing it; on a reload it keeps the last good index.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.gc_tuning import collector_paused
from app.heap_trim import trim_heap
from app.metric_labels import RUNBOOK_SKIP_REASONS
from app.metrics import Metrics
from app.runbooks.embed_cache import EmbeddingCache
from app.runbooks.embedder import Embedder, default_embedder
from app.runbooks.loader import MAX_RUNBOOK_BYTES, Skipped, load_corpus
from app.runbooks.search import RunbookIndex
from app.runbooks.vectors import RunbookVectors

log = logging.getLogger("app.runbooks")


@dataclass(frozen=True)
class Build:
    index: RunbookIndex
    skipped: list[Skipped]
    embedded: int
    from_cache: int
    seconds: float


class RunbookHolder:
    def __init__(
        self,
        directory: Path,
        metrics: Metrics,
        *,
        cache_dir: Path | None = None,
        max_bytes: int = MAX_RUNBOOK_BYTES,
        embedder: Callable[[], Embedder] = default_embedder,
    ) -> None:
        self._directory = directory
        self._metrics = metrics
        self._cache_dir = cache_dir
        self._max_bytes = max_bytes
        self._embedder = embedder
        self._generation = 0
        self._index = RunbookIndex([])
        self._lock = asyncio.Lock()
        self.skipped: list[Skipped] = []
        self.problem: str | None = "runbooks not indexed yet"

    @property
    def current(self) -> RunbookIndex:
        return self._index

    def load(self) -> None:
        """Initial load. A missing or empty corpus leaves the pod not ready (see `problem`)."""
        try:
            build = self._build()
        except OSError as exc:
            self._reject(str(exc))
            return
        if len(build.index) == 0:
            self._record_skipped(build.skipped)
            self._reject(f"no runbooks in {self._directory}")
            return
        self._activate(build)

    async def reload(self) -> None:
        """Re-index after a change, in a worker thread. Answers cached from changed runbooks
        stop matching: a cached answer carries the digests of its sections. An empty or
        unreadable directory keeps the last good index."""
        async with self._lock:
            try:
                build = await asyncio.to_thread(self._build, collect_first=True)
            except OSError as exc:
                self._reject(str(exc))
                return
            if len(build.index) == 0:
                self._record_skipped(build.skipped)
                self._reject("no runbooks found; keeping the last good index")
                return
            if build.index.digest != self._index.digest or self.problem is not None:
                retired = [self._index]
                self._activate(build)
                # Freeing an index of 10,000 sections (its objects, its arrays) holds the GIL
                # for a noticeable time: do it in the worker thread, not on the event loop.
                await asyncio.to_thread(self._free, retired)
            else:
                # The same good runbooks, but a bad file came or went: the skipped list and its
                # gauge say so (/health/ready, ai_runbooks_skipped), as after a new index; and
                # the active runbooks are the newest again (after an emptied directory came
                # back as it was, say): no longer a rejection (ai_config_rejected).
                self._record_skipped(build.skipped)
                self._metrics.config_reloaded("runbooks", ok=True, count=False)

    def _build(self, *, collect_first: bool = False) -> Build:
        """Runs in a worker thread. The cyclic garbage collector is paused meanwhile: a build
        allocates hundreds of thousands of objects, and a collection it triggers would run in
        this thread holding the GIL, stalling the event loop for a large fraction of a second
        (measured: 300-600 ms at 10,000 sections). The surviving objects (the new index) are
        then frozen out of future collections; the build's temporaries are freed by reference
        counting as usual.

        `collect_first` (a re-index while serving): the freeze takes whatever else is alive,
        including cyclic garbage that requests left since the last young collection, which
        would then never be freed; with the serving threshold (app/gc_tuning.py) that is up to
        50,000 allocations' worth, on every re-index. The young generations are collected
        first (they hold no index: the last one was frozen; ~2 ms over 50,000 objects). What
        requests leave during the build itself is still frozen with it."""
        if collect_first:
            gc.collect(1)
        try:
            with collector_paused():
                return self._build_index()
        finally:
            trim_heap()  # the build's temporaries are freed: give their pages back

    @staticmethod
    def _free(retired: list[RunbookIndex]) -> None:
        """Runs in a worker thread: drop the replaced index and return its pages."""
        retired.clear()
        trim_heap()

    def _build_index(self) -> Build:
        started = time.perf_counter()
        corpus = load_corpus(self._directory, self._max_bytes, previous=self._index.runbooks)
        if not corpus.runbooks:
            return Build(RunbookIndex([]), corpus.skipped, 0, 0, time.perf_counter() - started)
        embedder = self._embedder()
        cache = EmbeddingCache(self._cache_dir, embedder.model_id)
        previous = self._index.vectors
        known: dict[str, RunbookVectors] = {}
        from_cache = 0
        for rb in corpus.runbooks:
            vectors = previous.get(rb.digest)
            if vectors is None:
                vectors = cache.get(rb.digest, dim=embedder.dim, sections=len(rb.chunks))
                from_cache += vectors is not None
            if vectors is not None:
                known[rb.digest] = vectors
        index = RunbookIndex(corpus.runbooks, vectors=known, terms=self._index.terms,
                             embedder=embedder)
        fresh = [d for d in index.vectors if d not in known]
        for digest in fresh:
            cache.put(digest, index.vectors[digest])
        return Build(index, corpus.skipped, len(fresh), from_cache,
                     time.perf_counter() - started)

    def _activate(self, build: Build) -> None:
        index = build.index
        self._index = index
        self._generation += 1
        self.problem = None
        self._record_skipped(build.skipped)
        m = self._metrics
        m.runbooks_loaded.set(len(index))
        m.runbooks_index_seconds.set(build.seconds)
        m.runbooks_embedded.labels(source="model").inc(build.embedded)
        m.runbooks_embedded.labels(source="cache").inc(build.from_cache)
        m.set_config_info("runbooks", self._generation, index.digest)
        m.config_reloaded("runbooks", ok=True)
        log.info("runbooks indexed", extra={"fields": {
            "count": len(index), "sections": index.chunk_count, "skipped": len(build.skipped),
            "embedded": build.embedded, "embeddings_from_cache": build.from_cache,
            "seconds": round(build.seconds, 3), "hash": index.digest,
            "generation": self._generation}})

    def _record_skipped(self, skipped: list[Skipped]) -> None:
        self.skipped = skipped
        for reason in RUNBOOK_SKIP_REASONS:
            self._metrics.runbooks_skipped.labels(reason=reason).set(
                sum(1 for s in skipped if s.reason == reason))

    def _reject(self, reason: str) -> None:
        if len(self._index) == 0:
            self.problem = reason
        self._metrics.config_reloaded("runbooks", ok=False)
        log.warning("runbooks reload rejected", extra={"fields": {"reason": reason}})
