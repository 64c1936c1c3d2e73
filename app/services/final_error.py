"""Which error a client gets when no rung of the ladder could answer (app/services/answer.py)."""

from __future__ import annotations

from app.errors import (
    BudgetExceededError,
    CircuitOpenError,
    DomainError,
    LedgerUnavailableError,
    ServiceUnavailableError,
    UpstreamError,
)


def final_error(failures: list[DomainError]) -> DomainError:
    """No rung could answer: report the most actionable failure."""
    for exc in failures:
        if isinstance(exc, BudgetExceededError):
            return exc
    for exc in failures:
        if isinstance(exc, LedgerUnavailableError):
            return exc
    opens = [e for e in failures if isinstance(e, CircuitOpenError)]
    if opens and len(opens) == len(failures):
        wait = min(e.retry_after_seconds for e in opens)
        return ServiceUnavailableError(
            "the LLM API is failing (circuit open) and no cached or offline answer is "
            "allowed", retry_after_seconds=wait,
        )
    for exc in failures:
        if isinstance(exc, UpstreamError):
            return exc
    return failures[0]
