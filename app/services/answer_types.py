"""What the ask pipeline returns: an answer, and which rung of the ladder served it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from app.llm.base import Usage


@dataclass(frozen=True)
class Degraded:
    mode: str  # fallback_model | cached | stale_cache | offline
    reason: str  # the code of what failed above this rung
    detail: str


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
    truncated: bool = False  # cut at max_tokens


def encode_answer(answer: Answer) -> bytes:
    """An answer as one replica publishes it to the others waiting for the same question."""
    d = answer.degraded
    return json.dumps({
        "answer": answer.answer, "model": answer.model, "sources": answer.sources,
        "degraded": [d.mode, d.reason, d.detail] if d else None,
        "cost_usd": answer.cost_usd, "no_answer": answer.no_answer,
        "truncated": answer.truncated,
    }).encode()


def decode_coalesced(payload: bytes) -> tuple[Answer, float]:
    """A waiter's copy of the leader's answer: served as cached, at $0; and what the leader
    paid for it (what the waiter saved). Raises ValueError on a payload it cannot read."""
    try:
        data = json.loads(payload)
        d = data["degraded"]
        answer = Answer(str(data["answer"]), str(data["model"]), [str(s) for s in data["sources"]],
                        cached=True, degraded=Degraded(*d) if d else None,
                        no_answer=bool(data["no_answer"]), truncated=bool(data["truncated"]))
        return answer, float(data["cost_usd"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"unreadable coalesced answer: {exc}") from None
