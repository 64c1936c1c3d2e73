"""Domain errors become the right status, headers and JSON body."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from app.api.errors import install_error_handlers, problem_body
from app.api.middleware import RequestContextMiddleware
from app.errors import (
    BudgetExceededError,
    CircuitOpenError,
    DomainError,
    InvalidQuestionError,
    LedgerUnavailableError,
    ServiceUnavailableError,
    UnknownModelError,
    UpstreamError,
)
from app.metrics import Metrics

CASES: list[tuple[DomainError, int, str, dict[str, str]]] = [
    (InvalidQuestionError("empty"), 400, "invalid_question", {}),
    (UnknownModelError("gpt"), 400, "unknown_model", {}),
    (BudgetExceededError("spent", window="daily", retry_after_seconds=3600.2), 429,
     "budget_exhausted", {"retry-after": "3601", "x-budget-window": "daily"}),
    (BudgetExceededError("prompt too big", window="per_request", retry_after_seconds=0), 429,
     "budget_exhausted", {"x-budget-window": "per_request"}),
    (UpstreamError("500", kind="server_error", status=500), 502, "upstream_error", {}),
    (CircuitOpenError("open", name="m", retry_after_seconds=0.2), 503, "circuit_open",
     {"retry-after": "1"}),
    (ServiceUnavailableError("nothing", retry_after_seconds=12), 503, "service_unavailable",
     {"retry-after": "12"}),
    (LedgerUnavailableError("redis down"), 503, "ledger_unavailable", {"retry-after": "5"}),
]


@pytest.mark.parametrize(("exc", "status", "code", "headers"), CASES)
def test_domain_error_mapping(exc: DomainError, status: int, code: str,
                              headers: dict[str, str]) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    with TestClient(app) as client:
        r = client.get("/boom")
    assert r.status_code == status
    body = r.json()
    assert body["error"] == code and body["detail"] and "request_id" in body
    for name, value in headers.items():
        assert r.headers[name] == value
    if "retry-after" not in headers:
        assert "retry-after" not in r.headers


def test_unexpected_exception_is_a_json_500_without_internals() -> None:
    app = FastAPI()
    app.add_middleware(RequestContextMiddleware, metrics=Metrics(CollectorRegistry()),
                       max_body_bytes=1024)
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal state")

    with TestClient(app) as client:  # nothing propagates: the middleware answers it
        r = client.get("/boom", headers={"X-Request-ID": "rid-1"})
    assert r.status_code == 500
    assert r.json()["error"] == "internal_error" and r.json()["request_id"] == "rid-1"
    assert r.headers["x-request-id"] == "rid-1"
    assert "secret" not in r.text


@pytest.mark.parametrize(("exc", "budget"), [
    (BudgetExceededError("team payments's hourly budget...", window="hourly",
                         retry_after_seconds=59.5, scope="payments"),
     {"scope": "payments", "window": "hourly", "retry_after_seconds": 60}),
    (BudgetExceededError("prompt too big", window="per_request", retry_after_seconds=0),
     {"scope": "global", "window": "per_request", "retry_after_seconds": None}),
])
def test_a_budget_refusal_names_its_scope_and_window(
    exc: BudgetExceededError, budget: dict[str, object]
) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    with TestClient(app) as client:
        r = client.get("/boom")
    assert r.status_code == 429
    assert r.headers["x-budget-scope"] == budget["scope"]
    assert r.headers["x-budget-window"] == budget["window"]
    assert r.json()["budget"] == budget
    assert problem_body(exc)["budget"] == budget  # a streamed answer's error event


class Question(BaseModel):
    question: str


def not_json(body: bytes) -> str:
    """The detail for a body that is not JSON: where and why, in the words of this Python's
    json module (3.13 words a trailing comma differently from 3.11)."""
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        return f"body is not valid JSON (at byte {exc.pos}): {exc.msg}"
    raise AssertionError(f"{body!r} is JSON")


@pytest.mark.parametrize(("body", "detail"), [
    (b"notjson", not_json(b"notjson")),
    (b'{"question": "a",}', not_json(b'{"question": "a",}')),
    (b'{"question": 1}', "question: Input should be a valid string"),
    (b"{}", "question: Field required"),
])
def test_a_bad_body_says_what_is_wrong_and_where(body: bytes, detail: str) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/ask")
    async def ask(q: Question) -> None:
        return None

    with TestClient(app) as client:
        r = client.post("/ask", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_request"
    assert r.json()["detail"] == detail
