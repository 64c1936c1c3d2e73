"""The LLM provider contract. The pipeline sees only this; SDK details stay in anthropic.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Usage:
    """Token usage as Anthropic reports it. `input_tokens` EXCLUDES cache reads and writes."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens + self.output_tokens + self.cache_read_tokens
            + self.cache_write_tokens
        )


@dataclass(frozen=True)
class RateLimitReading:
    """One `anthropic-ratelimit-<kind>-*` header family (kind: requests, tokens, ...)."""

    limit: float | None = None
    remaining: float | None = None


@dataclass(frozen=True)
class Document:
    """A runbook section sent to the model as a citable document (its text sent verbatim)."""

    title: str
    text: str
    context: str = ""


@dataclass(frozen=True)
class Cited:
    """One citation as the model returned it: which document, and the text it quotes."""

    document_index: int
    cited_text: str


@dataclass(frozen=True)
class TextPart:
    """A piece of the answer and the citations the model attached to it (maybe none)."""

    text: str
    citations: tuple[Cited, ...] = ()


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    system: str
    prompt: str
    max_tokens: int
    timeout_seconds: float
    # With documents, the model answers from them with citations and may decline through a
    # structured signal instead of a phrase; without, `system` carries all context.
    documents: tuple[Document, ...] = ()


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    usage: Usage
    stop_reason: str | None = None
    rate_limits: dict[str, RateLimitReading] = field(default_factory=dict)
    parts: tuple[TextPart, ...] = ()  # the text, block by block, with its citations
    declined: str | None = None  # the model signalled "the documents do not answer": why


class Provider(Protocol):
    """A paid LLM. Raises app.errors.UpstreamError (with a bounded `kind`) on any failure."""

    async def complete(self, request: CompletionRequest) -> Completion: ...

    async def stream(self, request: CompletionRequest,
                     on_delta: Callable[[str], None]) -> Completion:
        """`complete`, streamed: each text delta to `on_delta` as it arrives."""
        ...

    async def aclose(self) -> None: ...
