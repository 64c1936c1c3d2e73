"""HTTP request and response models (docs/architecture.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, description="The operator's question.")
    model: str | None = Field(default=None, description="A model from the policy's allowlist.")
    # Strict: JSON true or false. A lax bool would take "yes", "off", 1 or "0" and guess; a
    # client that sends those gets a 422 saying what is wanted instead.
    stream: StrictBool = Field(default=False, description="Answer as server-sent events while "
                               "the model writes (as `Accept: text/event-stream` does).")


class TokenUsage(BaseModel):
    input: int
    output: int
    cache_read: int
    cache_write: int


class DegradedInfo(BaseModel):
    mode: str = Field(description="fallback_model | cached | stale_cache | offline")
    reason: str = Field(description="What failed above this rung, e.g. circuit_open.")
    detail: str


class CitationOut(BaseModel):
    runbook_id: str
    section: str = Field(description="The runbook section quoted.")
    quote: str = Field(description="The runbook text cited, verbatim (a substring of the "
                       "section).")
    text: str = Field(description="The part of the answer this quote supports.")


class AskResponse(BaseModel):
    answer: str
    model: str
    cached: bool
    degraded: DegradedInfo | None
    sources: list[str] = Field(description="Ids of the runbooks the answer used.")
    latency_s: float
    tokens: int = Field(description="All tokens billed for this answer (0 when cached).")
    usage: TokenUsage
    cost_usd: float = Field(description="What this answer cost, including failed paid calls "
                            "settled at their worst case (see cost_estimated).")
    cost_estimated: bool = Field(
        default=False,
        description="cost_usd includes a paid call that was sent but returned no usage "
        "(timeout, dropped connection): settled at its reserved worst case, since Anthropic may "
        "bill it.")
    truncated: bool = Field(
        default=False,
        description="The answer was cut short (stop_reason max_tokens, or the API's "
                    "model_context_window_exceeded or pause_turn); never cached.")
    no_answer: bool = Field(
        default=False, description="The runbooks do not answer the question (the model said so "
        "through its structured signal, or retrieval found nothing relevant).")
    citations: list[CitationOut] = Field(
        default_factory=list,
        description="For each cited part of the answer, the runbook text it rests on. Offline "
        "and excerpt answers cite themselves.")
    grounded_share: float | None = Field(
        default=None, description="Share of the answer's text backed by a valid citation "
        "(null when not graded: a no-answer).")
    grounded: bool | None = Field(
        default=None, description="grounded_share meets the policy's "
        "quality.min_grounded_share; an ungrounded answer is never cached.")
    request_id: str


class BudgetRefusal(BaseModel):
    scope: str = Field(description='Whose limit refused: "global" or the team.')
    window: str = Field(description="per_request, hourly, daily or monthly.")
    retry_after_seconds: int | None = Field(
        description="Seconds until the window resets; null for the per-request limit.")


class ErrorResponse(BaseModel):
    error: str
    detail: str
    request_id: str | None
    budget: BudgetRefusal | None = Field(
        default=None, description="On a budget refusal (429 budget_exhausted) only.")
