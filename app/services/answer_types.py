"""What the ask pipeline returns: an answer, and which rung of the ladder served it."""

from __future__ import annotations

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
