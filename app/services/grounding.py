"""How much of an answer rests on the runbooks: citations checked against the sections sent.

A citation counts only if it names a document that was sent and its quoted text is, verbatim,
in that runbook section (the API quotes documents exactly; anything else is a citation to
nothing). The grounded share is the part of the answer's text (in characters, whitespace
ignored) that carries at least one such citation. An answer below `quality.min_grounded_share`
is served marked `grounded: false`, never cached, and counted (docs/architecture.md).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from app.llm.base import TextPart
from app.logs import add_log_fields
from app.metrics import Metrics
from app.runbooks.results import SearchResult
from app.services.answer_types import Citation

log = logging.getLogger("app.answer")


@dataclass(frozen=True)
class Grounding:
    citations: tuple[Citation, ...]
    share: float  # 0..1 of the answer's text backed by a valid citation
    rejected: Counter[str]  # invalid citations by reason: outside_documents, text_mismatch


def ground(parts: tuple[TextPart, ...], result: SearchResult) -> Grounding:
    chunks = [hit.chunk for hit in result.hits]
    citations: list[Citation] = []
    rejected: Counter[str] = Counter()
    backed = total = 0
    for part in parts:
        size = len("".join(part.text.split()))
        total += size
        valid = False
        for cited in part.citations:
            if not 0 <= cited.document_index < len(chunks):
                rejected["outside_documents"] += 1
                continue
            chunk = chunks[cited.document_index]
            if not cited.cited_text.strip() or cited.cited_text not in chunk.text:
                rejected["text_mismatch"] += 1
                continue
            valid = True
            citations.append(Citation(runbook_id=chunk.runbook_id, section=chunk.section,
                                      quote=cited.cited_text, text=part.text))
        if valid:
            backed += size
    return Grounding(tuple(citations), backed / total if total else 0.0, rejected)


class Grader:
    """Grades each answer the LLM wrote: metrics, the summary log line, the verdict."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def grade(self, model: str, parts: tuple[TextPart, ...], result: SearchResult,
              min_share: float) -> tuple[Grounding, bool]:
        grounding = ground(parts, result)
        grounded = grounding.share >= min_share
        m = self._metrics
        m.grounded_ratio.labels(model=model).observe(grounding.share)
        m.answers_graded.labels(model=model).inc()
        for reason, n in grounding.rejected.items():
            m.citations_rejected.labels(reason=reason).inc(n)
        add_log_fields(grounded=grounded, grounded_share=round(grounding.share, 4),
                       citations=len(grounding.citations))
        if not grounded:
            m.ungrounded_answers.labels(model=model).inc()
            log.warning("answer not grounded in the runbooks: served marked grounded=false, "
                        "not cached", extra={"fields": {
                            "model": model, "grounded_share": round(grounding.share, 4),
                            "min_grounded_share": min_share,
                            "citations_rejected": dict(grounding.rejected)}})
        return grounding, grounded
