"""AnswerService: the ask pipeline of docs/architecture.md. Knows nothing of HTTP.

validate -> exact cache (no retrieval on a hit) -> retrieve runbook context (a worker thread)
-> paid models in order (primary, then the cheaper fallback) -> free rungs: cached answer
(stale allowed), runbook excerpts -> error (the free rungs: free_rungs.py).
Budget exhausted or breaker open never means an error page while a lower rung can answer.

A paid rung that failed after sending may still cost money (settled at its worst case by
PaidCaller): that cost is added to the answer's `cost_usd`, with `cost_estimated` set, whichever
rung answers in the end. An answer cut short (stop_reason "max_tokens", or the API's
"model_context_window_exceeded" and "pause_turn") is served marked `truncated` and never cached:
a cached truncated answer would be served, whole-looking, for a day.

Streaming (`ask(..., sink=...)`) is this same pipeline: the sink hears the sources after
retrieval and the paid call's text deltas; caches, single-flight, grading and the ladder do not
change. A stream cut anywhere raises out of the paid call, so a partial answer is never cached.

Teams (`ask(..., team=...)`): every paid rung is charged to the caller's team (PaidCaller holds
its windows with the global ones). Cache hits and coalesced followers charge no team: the team
that made the shared call paid for it (docs/architecture.md, Teams).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from app.cache import AnswerCache, SemanticCache, SingleFlight, cache_key
from app.clock import Clock
from app.config import Policy
from app.errors import (
    BudgetExceededError,
    CircuitOpenError,
    DomainError,
    InvalidQuestionError,
    LedgerUnavailableError,
    UnknownModelError,
    UpstreamError,
)
from app.llm.base import TextPart, Usage
from app.llm.offline import OFFLINE_MODEL
from app.llm.prompt import (
    NO_ANSWER,
    SYSTEM_PROMPT,
    build_documents,
    build_question,
    is_no_answer,
)
from app.logs import add_log_fields
from app.metrics import Metrics
from app.runbooks.results import SearchResult
from app.runbooks.search import RunbookIndex
from app.services.answer_types import Answer, AnswerSink, Degraded
from app.services.coalesce import Coalescer
from app.services.free_rungs import FreeRungs, excerpts_answer, plus_estimated, with_degraded
from app.services.grounding import Grader
from app.services.paid_call import PaidCaller
from app.services.reuse import AFTER_SEARCH, AnswerReuse

log = logging.getLogger("app.answer")
# Stops that leave the answer unfinished: our token limit, the model's context window, a turn
# the API paused (a server-side loop that this single call does not continue).
CUT_SHORT = frozenset({"max_tokens", "model_context_window_exceeded", "pause_turn"})
__all__ = ["Answer", "AnswerService", "AnswerSink", "Degraded"]


class AnswerService:
    def __init__(
        self,
        *,
        policy: Callable[[], Policy],
        index: Callable[[], RunbookIndex],
        cache: AnswerCache,
        metrics: Metrics,
        clock: Clock,
        paid: PaidCaller | None,
        semantic: SemanticCache | None = None,
        flight: SingleFlight | None = None,
    ) -> None:
        self._policy = policy
        self._index = index
        self._reuse = AnswerReuse(cache, semantic, metrics, clock,
                                  in_flight=flight.in_flight_anywhere if flight else None)
        self._coalescer = Coalescer(flight, metrics) if flight is not None else None
        self._metrics = metrics
        self._clock = clock
        self._paid = paid
        self._grader = Grader(metrics)
        self._free_rungs = FreeRungs(self._reuse, metrics)

    async def ask(self, question: str, model: str | None = None,
                  sink: AnswerSink | None = None, *, team: str | None = None) -> Answer:
        """`sink`: a streamed ask (answer_types.AnswerSink); the pipeline is the same.
        `team`: the caller's team (None: in no team), charged for any paid call."""
        policy = self._policy()  # one snapshot: a reload mid-request does not mix policies
        question = self._validate(question, model, policy)
        index = self._index()  # one index for the whole request, as for the policy
        offline = self._paid is None or model == OFFLINE_MODEL
        primary = OFFLINE_MODEL if offline else model or policy.routing.default_model
        # The exact cache first: an answer stored against this very corpus needs no search and
        # no embedding. One stored before a runbook change is served only if the question
        # still retrieves the sections it was built on (checked after the search below).
        fresh = await self._reuse.exact(question, primary, index, None, allow_stale=False)
        if isinstance(fresh, Answer):
            return self._hit("exact", fresh)
        result = await self._search(index, question, policy.llm.context_chunks)
        if not result.answerable:
            return self._no_answer()
        if sink is not None:  # the sources first, before any model call
            sink.sources(result.sources)
        if fresh is AFTER_SEARCH:
            fresh = await self._reuse.exact(question, primary, index, result, allow_stale=False)
            if isinstance(fresh, Answer):
                return self._hit("exact", fresh)
        if offline:
            self._metrics.cache_lookups.labels(outcome="miss").inc()
            return await self._offline_default(question, index, result, policy)
        similar = await self._reuse.semantic(question, primary, index, result, policy)
        if isinstance(similar, Answer):
            return self._hit("semantic", similar)

        if self._coalescer is None or not policy.cache.single_flight_enabled:
            self._metrics.cache_lookups.labels(outcome="miss").inc()
            return await self._ladder(question, primary, index, result, policy, sink, team)
        # A semantically matching question in flight is waited for under ITS key.
        key = similar.answer_key if similar is not None else cache_key(question, primary)

        async def ladder() -> Answer:
            # Only the caller that pays, once it holds the flight, announces the question to
            # the semantic tier: a rewording that finds the entry then finds it in flight
            # (announced before the claim, a rewording in between would drop the entry as
            # answerless), and waiters make no write. The entry is the answer's semantic
            # entry too: the primary rung's store does not add it again (AnswerReuse.store).
            await self._reuse.announce(question, primary, result, policy)
            return await self._ladder(question, primary, index, result, policy, sink, team,
                                      announced=True)

        async def free_rungs(why: DomainError) -> Answer:
            chain = self._chain(primary, policy)
            return await self._free_rungs.answer(question, chain, index, result, policy, [why])

        return await self._coalescer.answer(key, ladder, free_rungs)

    def _hit(self, kind: str, answer: Answer) -> Answer:
        self._metrics.cache_lookups.labels(outcome=kind).inc()
        return answer

    @staticmethod
    def _chain(primary: str, policy: Policy) -> list[str]:
        fallback = policy.routing.fallback_model
        return [primary, fallback] if fallback and fallback != primary else [primary]

    async def _ladder(self, question: str, primary: str, index: RunbookIndex,
                      result: SearchResult, policy: Policy, sink: AnswerSink | None,
                      team: str | None, *, announced: bool = False) -> Answer:
        """The paid rungs in order, then the free ones. `announced`: the question is in the
        semantic tier already, under the primary model's key (AnswerReuse.announce)."""
        chain = self._chain(primary, policy)
        failures: list[DomainError] = []
        # llm.timeout_seconds bounds the paid rungs TOGETHER: a hanging upstream must not hold
        # the client once per model. A later rung gets what the earlier ones left over.
        started = self._clock.monotonic()
        for rung, name in enumerate(chain):
            if rung > 0:  # this model's own fresh answer is cached: serve it, do not pay again
                found = await self._reuse.exact(question, name, index, result,
                                                allow_stale=False)
                if isinstance(found, Answer):
                    self._metrics.degraded.labels(mode="cached").inc()
                    cached = with_degraded(found, Degraded("cached", failures[0].code,
                                                           failures[0].detail))
                    return plus_estimated(cached, failures)
            left = policy.llm.timeout_seconds - (self._clock.monotonic() - started)
            if left <= 0:
                break  # no time for another paid call: the free rungs answer
            try:
                answer = await self._ask_model(name, question, result, policy, left, sink,
                                               team, announced=announced and rung == 0)
            except (BudgetExceededError, LedgerUnavailableError, CircuitOpenError,
                    UpstreamError) as exc:
                failures.append(exc)
                continue
            answer = plus_estimated(answer, failures)
            if rung > 0:
                first = failures[0]
                answer = with_degraded(answer, Degraded("fallback_model", first.code, first.detail))
                self._metrics.degraded.labels(mode="fallback_model").inc()
            return answer
        return await self._free_rungs.answer(question, chain, index, result, policy, failures)

    # ------------------------------------------------------------------ rungs

    async def _ask_model(
        self, model: str, question: str, result: SearchResult, policy: Policy,
        timeout_seconds: float, sink: AnswerSink | None = None, team: str | None = None,
        *, announced: bool = False,
    ) -> Answer:
        assert self._paid is not None
        if sink is not None:
            sink.restart()
        paid = await self._paid.call(model, SYSTEM_PROMPT, build_question(question), policy,
                                     timeout_seconds=timeout_seconds,
                                     documents=build_documents(result),
                                     on_delta=sink.delta if sink is not None else None,
                                     team=team)
        completion, sources = paid.completion, result.sources
        # The structured signals first (the no_answer tool; the API's "refusal" stop, whose text
        # is whatever was written before its classifier stopped the answer), then the phrase for
        # a model that did not use the tool. None of them is cached or graded as an answer.
        signal = "tool" if completion.declined is not None else (
            "refusal" if completion.stop_reason == "refusal" else
            "phrase" if is_no_answer(completion.text) else None)
        if signal is not None:
            add_log_fields(no_answer_signal=signal)
            return self._no_answer(usage=completion.usage, cost=paid.cost_usd, model=model)
        grounding, grounded = self._grader.grade(
            model, completion.parts or (TextPart(completion.text),), result,
            policy.quality.min_grounded_share)
        answer = Answer(completion.text, model, sources, usage=completion.usage,
                        cost_usd=paid.cost_usd, citations=grounding.citations,
                        grounded_share=grounding.share, grounded=grounded)
        truncated = completion.stop_reason in CUT_SHORT
        if truncated:
            self._metrics.truncated_answers.labels(model=model).inc()
            log.warning("answer cut short: served marked truncated, not cached",
                        extra={"fields": {"model": model, "stop_reason": completion.stop_reason}})
            answer = replace(answer, truncated=True)
        elif grounded:
            await self._reuse.store(question, model, result, answer, paid.cost_usd, policy,
                                    announced=announced)
        self._metrics.agent_iterations.observe(1)
        return answer

    async def _offline_default(self, question: str, index: RunbookIndex, result: SearchResult,
                               policy: Policy) -> Answer:
        answer = excerpts_answer(question, index, result)
        await self._reuse.store(question, OFFLINE_MODEL, result, answer, 0.0, policy)
        return answer

    def _no_answer(self, usage: Usage | None = None, cost: float = 0.0,
                   model: str = OFFLINE_MODEL) -> Answer:
        return Answer(NO_ANSWER, model, [], usage=usage or Usage(), cost_usd=cost,
                      no_answer=True)

    async def _search(self, index: RunbookIndex, question: str, limit: int) -> SearchResult:
        """Off the event loop unless the corpus is small: a search over 10,000 sections is
        milliseconds of numpy, which would otherwise hold every other request, probes included;
        over a few hundred it is cheaper than the thread hop (RunbookIndex.runs_inline)."""
        started = self._clock.monotonic()
        if index.runs_inline:
            result = index.search(question, limit)
        else:
            result = await asyncio.to_thread(index.search, question, limit)
        self._metrics.retrieval_seconds.observe(self._clock.monotonic() - started)
        return result

    # ------------------------------------------------------------------ validation

    def _validate(self, question: str, model: str | None, policy: Policy) -> str:
        question = question.strip()
        if not question:
            raise InvalidQuestionError("question must not be empty")
        limit = policy.limits.max_question_chars
        if len(question) > limit:
            raise InvalidQuestionError(
                f"question is {len(question)} characters; the limit is {limit}"
            )
        allowed = policy.allowed_models | {OFFLINE_MODEL}
        if model is not None and model not in allowed:
            raise UnknownModelError(
                f"model {model!r} is not allowed; choose one of {sorted(allowed)}"
            )
        return question
