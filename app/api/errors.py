"""Domain error -> HTTP status, and every error as JSON {"error", "detail", "request_id"}.

A budget refusal (429) also says whose limit refused and which window, in headers
(`X-Budget-Scope`: "global" or the team; `X-Budget-Window`; `Retry-After` until it resets) and in
the body's `budget` object, the same in a streamed answer's `error` event."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import (
    AuthUnavailableError,
    BudgetExceededError,
    CircuitOpenError,
    DomainError,
    InvalidQuestionError,
    LedgerUnavailableError,
    PolicyError,
    RateLimitedError,
    ServiceUnavailableError,
    UnknownModelError,
    UpstreamError,
)
from app.logs import request_id_var
from app.ratelimit.gcra import retry_after_header

STATUS: dict[type[DomainError], int] = {
    InvalidQuestionError: 400,
    UnknownModelError: 400,
    BudgetExceededError: 429,
    RateLimitedError: 429,
    UpstreamError: 502,
    CircuitOpenError: 503,
    ServiceUnavailableError: 503,
    LedgerUnavailableError: 503,
    AuthUnavailableError: 503,
    PolicyError: 500,
}


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None,
    extra: dict[str, object] | None = None,
) -> JSONResponse:
    body = {"error": code, "detail": detail, "request_id": request_id_var.get(), **(extra or {})}
    return JSONResponse(body, status_code=status, headers=headers)


def budget_refusal(exc: BudgetExceededError) -> dict[str, object]:
    """The `budget` object of a 429: whose limit, which window, and the seconds until it resets
    (null for the per-request limit: retrying the same prompt cannot help)."""
    per_request = exc.window == "per_request"
    return {"scope": exc.scope, "window": exc.window,
            "retry_after_seconds": None if per_request else math.ceil(exc.retry_after_seconds)}


def problem_body(exc: DomainError) -> dict[str, object]:
    """The JSON problem body of a DomainError, with the status it would have had (the
    `error` event of a streamed answer, whose HTTP status was already 200)."""
    detail = f"{exc.window}: {exc.detail}" if isinstance(exc, BudgetExceededError) else exc.detail
    body: dict[str, object] = {"error": exc.code, "detail": detail,
                               "request_id": request_id_var.get(), "status": _status_for(exc)}
    if isinstance(exc, BudgetExceededError):
        body["budget"] = budget_refusal(exc)
    return body


def _retry_after(seconds: float | None) -> dict[str, str]:
    if seconds is None:
        return {}
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def _status_for(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


async def _domain(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers: dict[str, str] = {}
    detail = exc.detail
    extra: dict[str, object] | None = None
    if isinstance(exc, BudgetExceededError):
        # A prompt over the per-request limit will never fit: retrying cannot help.
        retry = None if exc.window == "per_request" else exc.retry_after_seconds
        headers = _retry_after(retry) | {"X-Budget-Window": exc.window,
                                         "X-Budget-Scope": exc.scope}
        detail = f"{exc.window}: {exc.detail}"
        extra = {"budget": budget_refusal(exc)}
    elif isinstance(exc, RateLimitedError):
        # X-RateLimit-* come from the gate (app/api/rate_limit.py) through the middleware.
        headers = {"Retry-After": str(retry_after_header(exc.retry_after_seconds))}
    elif isinstance(exc, CircuitOpenError | ServiceUnavailableError):
        headers = _retry_after(exc.retry_after_seconds)
    elif isinstance(exc, LedgerUnavailableError):
        headers = _retry_after(5)
    elif isinstance(exc, AuthUnavailableError):
        headers = _retry_after(30)  # the keys file is re-read every second once it is fixed
    elif isinstance(exc, UpstreamError):
        headers = _retry_after(exc.retry_after_seconds)
    return error_response(_status_for(exc), exc.code, detail, headers, extra)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "invalid_request", "; ".join(map(_problem, exc.errors())))


def _problem(err: dict[str, Any]) -> str:
    """One validation error as an operator reads it: the field, then what is wrong with it.
    A body that is not JSON says so and where (FastAPI's own loc is the byte offset alone,
    which read "0: JSON decode error")."""
    if err.get("type") == "json_invalid":
        where = err.get("loc", ())[-1:]
        reason = (err.get("ctx") or {}).get("error", "")
        return ("body is not valid JSON"
                + (f" (at byte {where[0]})" if where and isinstance(where[0], int) else "")
                + (f": {reason}" if reason else ""))
    loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
    return f"{loc}: {err.get('msg', 'invalid')}"


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}
    return error_response(exc.status_code, codes.get(exc.status_code, "http_error"),
                          str(exc.detail), dict(exc.headers or {}))


INTERNAL_DETAIL = "unexpected error; see the service log"


def internal_error_response() -> JSONResponse:
    """The answer to an unhandled error (sent by RequestContextMiddleware, which logs it): no
    internals, only the request id to find the traceback in the log."""
    return error_response(500, "internal_error", INTERNAL_DETAIL)


def internal_problem_body() -> dict[str, object]:
    """The same, as the `error` event of a streamed answer (its HTTP status was already 200)."""
    return {"error": "internal_error", "detail": INTERNAL_DETAIL,
            "request_id": request_id_var.get(), "status": 500}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    # No `Exception` handler on purpose: RequestContextMiddleware answers unhandled errors, with
    # the request id (see app/api/middleware.py).
