"""What the ask pipeline returns: an answer, and which rung of the ladder served it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

from app.llm.base import Usage


class AnswerSink(Protocol):
    """Where a streamed ask reports as it goes (POST /ask with stream): the sources once
    retrieval is done, then the text deltas of a paid call as the model writes them. The Answer
    returned at the end is authoritative: an answer from a cache, the offline rung or a
    no-answer comes whole, and a paid call that broke mid-stream may have sent deltas of a text
    that a lower rung then replaced."""

    def sources(self, sources: list[str]) -> None: ...

    def delta(self, text: str) -> None: ...

    def restart(self) -> None:
        """A paid call is about to start: the deltas of an earlier one (broken mid-stream)
        are void."""


@dataclass(frozen=True)
class Degraded:
    mode: str  # fallback_model | cached | stale_cache | offline
    reason: str  # the code of what failed above this rung
    detail: str


@dataclass(frozen=True)
class Citation:
    """A part of the answer and the runbook text it rests on (quoted verbatim)."""

    runbook_id: str
    section: str
    quote: str
    text: str  # the part of the answer this citation supports

    def as_list(self) -> list[str]:
        return [self.runbook_id, self.section, self.quote, self.text]


@dataclass(frozen=True)
class Answer:
    answer: str
    model: str
    sources: list[str]
    cached: bool = False
    degraded: Degraded | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    no_answer: bool = False
    cost_estimated: bool = False  # cost_usd includes worst-case settlements of failed calls
    truncated: bool = False  # cut short: max_tokens, or the API's other unfinished stops
    citations: tuple[Citation, ...] = ()
    # The share of the text backed by a valid citation, and whether that meets the policy;
    # None when not graded (a no-answer).
    grounded_share: float | None = None
    grounded: bool | None = None


def citations_from(raw: object) -> tuple[Citation, ...]:
    """Citations from their stored/published form (lists of 4 strings); ValueError if not."""
    if not isinstance(raw, list):
        raise ValueError("citations must be a list")
    out = []
    for item in raw:
        if not isinstance(item, list) or len(item) != 4:
            raise ValueError("a citation is [runbook_id, section, quote, text]")
        out.append(Citation(*(str(x) for x in item)))
    return tuple(out)


def encode_answer(answer: Answer) -> bytes:
    """An answer as one replica publishes it to the others waiting for the same question."""
    d = answer.degraded
    return json.dumps({
        "answer": answer.answer, "model": answer.model, "sources": answer.sources,
        "degraded": [d.mode, d.reason, d.detail] if d else None,
        "cost_usd": answer.cost_usd, "no_answer": answer.no_answer,
        "truncated": answer.truncated,
        "citations": [c.as_list() for c in answer.citations],
        "grounded_share": answer.grounded_share, "grounded": answer.grounded,
    }).encode()


def decode_coalesced(payload: bytes) -> tuple[Answer, float]:
    """A waiter's copy of the leader's answer: served as cached, at $0; and what the leader
    paid for it (what the waiter saved). Raises ValueError on a payload it cannot read."""
    try:
        data = json.loads(payload)
        d = data["degraded"]
        answer = Answer(str(data["answer"]), str(data["model"]), [str(s) for s in data["sources"]],
                        cached=True, degraded=Degraded(*d) if d else None,
                        no_answer=bool(data["no_answer"]), truncated=bool(data["truncated"]),
                        citations=citations_from(data.get("citations", [])),
                        grounded_share=_opt_float(data.get("grounded_share")),
                        grounded=_opt_bool(data.get("grounded")))
        return answer, float(data["cost_usd"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"unreadable coalesced answer: {exc}") from None


def _opt_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _opt_bool(value: object) -> bool | None:
    return None if value is None else bool(value)
