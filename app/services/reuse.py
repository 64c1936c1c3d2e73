"""Reusing answers already paid for: the exact tier, then the semantic tier.

Exact (`app/cache/exact.py`): the question as asked, looked up before retrieval. An entry stored
against the current corpus is served at once (no search, no embedding); one from an earlier
corpus only if the question still retrieves exactly the sections it was built on, which the
search decides. So an edit invalidates exactly the answers built on the edited sections, and a
runbook added since is not hidden behind an old answer.

Semantic (`app/cache/semantic.py`, docs/semantic-cache.md): after an exact miss and the search,
a reworded question reuses an answer when it retrieved the same runbooks (the bucket: model,
prompt version, embedding model, runbook ids), the sections that answer was built on are
unchanged, its cosine with the cached question is at
least `cache.semantic_threshold`, and the guard finds no negation, opposite, other name or
other object. The entry points at the exact tier's answer, which keeps its freshness rules.
The question's vector is the one the search computed: nothing is embedded twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.cache import AnswerCache, CachedAnswer, SemanticCache, cache_key
from app.clock import Clock
from app.config import Policy
from app.llm.prompt import PROMPT_VERSION
from app.metrics import Metrics
from app.runbooks.results import SearchResult
from app.runbooks.search import RunbookIndex
from app.services.answer_types import Answer, Citation, Degraded

log = logging.getLogger("app.answer")
AFTER_SEARCH = object()  # a cached answer from another corpus: the search decides


@dataclass(frozen=True)
class InFlight:
    """A semantically matching question is being answered right now: wait on its key."""

    answer_key: str


def semantic_bucket(model: str, result: SearchResult) -> str:
    """Questions whose answers may be shared: the same runbooks retrieved (as a set), for the
    same model, prompt version and embedding model. Which sections of those runbooks were
    picked may differ with the wording; that a cached answer's own sections are unchanged is
    checked on each hit (so an edit invalidates exactly the answers built on what changed)."""
    runbooks = ",".join(sorted(set(result.sources)))
    material = "\0".join((model, PROMPT_VERSION, result.space, runbooks))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


class AnswerReuse:
    def __init__(self, cache: AnswerCache, semantic: SemanticCache | None, metrics: Metrics,
                 clock: Clock,
                 in_flight: Callable[[str], Awaitable[bool]] | None = None) -> None:
        self._cache = cache
        self._semantic = semantic
        self._in_flight = in_flight
        self._metrics = metrics
        self._clock = clock

    async def exact(
        self, question: str, model: str, index: RunbookIndex, result: SearchResult | None, *,
        allow_stale: bool,
    ) -> Answer | object | None:
        """The cached answer to this very question if it still stands on the runbooks; before
        the search (`result` None) an entry from another corpus is AFTER_SEARCH."""
        found = await self._cache.get(cache_key(question, model), allow_stale=allow_stale)
        if found is not None and found.entry.corpus != index.digest:
            if result is None:
                return AFTER_SEARCH  # counted when decided, after the search
            if found.entry.sections != result.section_digests:
                found = None  # retrieves other sections, or edited ones, now
        if found is None:
            self._metrics.cache_ops.labels(result="miss").inc()
            return None
        self._metrics.cache_ops.labels(result="stale_hit" if found.stale else "hit").inc()
        return self._served(found.entry, "exact", stale=found.stale)

    async def semantic(self, question: str, model: str, index: RunbookIndex,
                       result: SearchResult, policy: Policy) -> Answer | InFlight | None:
        """A fresh answer to a question close in meaning that retrieved the same runbooks; or,
        when that question is still being answered (single-flight), its key to wait on."""
        if (self._semantic is None or not policy.cache.semantic_enabled
                or result.vector is None):
            return None
        bucket = semantic_bucket(model, result)
        lookup = await self._semantic.find(bucket, question, result.vector,
                                           policy.cache.semantic_threshold)
        self._metrics.semantic_vetoes(lookup.rejected)
        if lookup.match is None:
            return None
        found = await self._cache.get(lookup.match.answer_key, allow_stale=False)
        if found is None and self._in_flight is not None and await self._in_flight(
                lookup.match.answer_key):
            self._metrics.semantic_similarity.observe(lookup.match.similarity)
            return InFlight(lookup.match.answer_key)
        if found is None or not index.has_sections(found.entry.sections):
            # its answer expired, or was built on sections edited since
            await self._semantic.remove(bucket, lookup.match.answer_key)
            return None
        if found.entry.corpus != index.digest and found.entry.sections != result.section_digests:
            # The runbooks changed since, and this question now retrieves other sections (one
            # added since, say): as strict as the exact tier, or a question would be served,
            # through its own semantic entry, the answer the exact tier just refused. The entry
            # stays for rewordings that still retrieve its sections.
            return None
        self._metrics.semantic_similarity.observe(lookup.match.similarity)
        log.info("semantic cache hit", extra={"fields": {
            "similarity": round(lookup.match.similarity, 4)}})
        return self._served(found.entry, "semantic", stale=False)

    async def announce(self, question: str, model: str, result: SearchResult,
                       policy: Policy) -> None:
        """About to pay for this question: let rewordings of it find it while it is in flight
        (a semantic entry whose answer is not stored yet; `semantic` then says InFlight). The
        same entry then points at the answer once `store` has put it (`announced=True`): its
        age counts from here, seconds before the answer's own, so it may expire that much
        sooner than the answer does."""
        await self._add_semantic(cache_key(question, model), question, model, result, policy)

    async def _add_semantic(self, key: str, question: str, model: str, result: SearchResult,
                            policy: Policy) -> None:
        """This question's semantic entry, pointing at exact-tier key `key` (when the tier is
        on and the search made a vector)."""
        if (self._semantic is not None and policy.cache.semantic_enabled
                and result.vector is not None):
            evicted = await self._semantic.add(semantic_bucket(model, result), key, question,
                                               result.vector)
            self._metrics.cache_evictions.labels(tier="semantic").inc(evicted)

    def _served(self, entry: CachedAnswer, kind: str, *, stale: bool) -> Answer:
        if not stale:
            self._metrics.cache_saved_usd.labels(kind=kind).inc(entry.cost_usd)
        degraded = Degraded("stale_cache", "", "") if stale else None
        return Answer(entry.answer, entry.model, list(entry.sources), cached=True,
                      degraded=degraded,
                      citations=tuple(Citation(*c) for c in entry.citations),
                      grounded_share=entry.grounded_share,
                      grounded=None if entry.grounded_share is None else True)

    async def store(self, question: str, model: str, result: SearchResult, answer: Answer,
                    cost_usd: float, policy: Policy, *, announced: bool = False) -> None:
        """Never called for a truncated, no-answer, ungrounded or degraded answer.
        `announced`: `announce` added this question's semantic entry (same model, same
        search), so only the answer is written here: one semantic write per paid answer, not
        two (with Redis, its heaviest script, and one change less for every replica's copy)."""
        entry = CachedAnswer(answer.answer, model, tuple(result.sources),
                             self._clock.now().timestamp(), result.section_digests,
                             result.corpus, cost_usd,
                             tuple((c.runbook_id, c.section, c.quote, c.text)
                                   for c in answer.citations),
                             answer.grounded_share)
        key = cache_key(question, model)
        evicted = await self._cache.put(key, entry)
        self._metrics.cache_ops.labels(result="store").inc()
        self._metrics.cache_evictions.labels(tier="exact").inc(evicted)
        if not announced:
            await self._add_semantic(key, question, model, result, policy)
