"""The free rungs of the ask pipeline's ladder (app/services/answer.py): what answers, at $0,
once the paid models could not. In order: a cached answer of a model in the chain (stale
allowed by degradation.stale_cache), the runbook excerpts (degradation.offline), else the most
actionable of the paid rungs' failures (final_error.py).

Also here, how an answer from below the primary model is marked (the paid fallback's too):
`with_degraded` names the rung that served and the first paid failure, and `plus_estimated` adds
what the failed paid rungs were settled at to its cost. `excerpts_answer` is the excerpts rung's
answer, and the whole answer of the offline default (OFFLINE_MODEL). Separate from answer.py,
which runs the pipeline and the paid rungs: this module is what serves when those failed.
"""

from __future__ import annotations

from dataclasses import replace

from app.config import Policy
from app.errors import DomainError, UpstreamError
from app.llm.offline import OFFLINE_MODEL, render, select_excerpts
from app.metrics import Metrics
from app.runbooks.results import SearchResult
from app.runbooks.search import RunbookIndex
from app.services.answer_types import Answer, Citation, Degraded
from app.services.final_error import final_error
from app.services.reuse import AnswerReuse


class FreeRungs:
    """The rungs that cost nothing, tried with the paid rungs' failures (the first one first)."""

    def __init__(self, reuse: AnswerReuse, metrics: Metrics) -> None:
        self._reuse = reuse
        self._metrics = metrics

    async def answer(
        self,
        question: str,
        chain: list[str],
        index: RunbookIndex,
        result: SearchResult,
        policy: Policy,
        failures: list[DomainError],
    ) -> Answer:
        first = failures[0]
        for name in chain:
            found = await self._reuse.exact(question, name, index, result,
                                            allow_stale=policy.degradation.stale_cache)
            if isinstance(found, Answer):
                mode = "stale_cache" if found.degraded else "cached"
                self._metrics.degraded.labels(mode=mode).inc()
                return plus_estimated(
                    with_degraded(found, Degraded(mode, first.code, first.detail)), failures)
        if policy.degradation.offline:
            self._metrics.degraded.labels(mode="offline").inc()
            offline = with_degraded(excerpts_answer(question, index, result),
                                    Degraded("offline", first.code, first.detail))
            return plus_estimated(offline, failures)
        raise final_error(failures)


def excerpts_answer(question: str, index: RunbookIndex, result: SearchResult) -> Answer:
    """The excerpts answer: each excerpt cites itself (the text shown, without the mark of a
    cut), so all of it is grounded."""
    excerpts = select_excerpts(result, question=question, index=index)
    citations = tuple(Citation(e.runbook_id, e.section, quote, quote)
                      for e in excerpts for quote in (e.text.removesuffix("\n…"),))
    return Answer(render(excerpts), OFFLINE_MODEL, result.sources, citations=citations,
                  grounded_share=1.0, grounded=True)


def with_degraded(answer: Answer, degraded: Degraded) -> Answer:
    return replace(answer, degraded=degraded)


def plus_estimated(answer: Answer, failures: list[DomainError]) -> Answer:
    """Add what the failed paid rungs were settled at (sent, maybe billed) to the answer."""
    estimated = sum(e.estimated_cost_usd for e in failures if isinstance(e, UpstreamError))
    if not estimated:
        return answer
    return replace(answer, cost_usd=answer.cost_usd + estimated, cost_estimated=True)
