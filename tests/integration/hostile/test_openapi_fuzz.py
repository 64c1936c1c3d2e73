"""Hostile callers (issue 17): requests generated from the service's own OpenAPI document.

schemathesis reads `/openapi.json` from the real service (uvicorn in its own process, the
offline provider, a temporary SQLite ledger, client keys configured) and sends, per operation,
a bounded, derandomized set of requests that the schema allows, with a valid key and without
one. Every response must be no 5xx, a status code the operation declares, a declared content
type, and a body that matches the declared schema. `/ask` negotiates its format (JSON,
`text/plain`, `text/event-stream`): the document lists all three for 200, so the checks accept
whichever the generated `Accept`/`stream` asked for.

Bounded: MAX_EXAMPLES per operation and mode, no deadline, no example database (a run does not
depend on earlier runs), derandomized (the same examples every run).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.routes import alerts, ask, health, ops
from tests.fakes.service_process import ServiceProcess

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 20
# Requests the schema does NOT allow (wrong types, missing fields): a 4xx, never a 5xx.
MAX_NEGATIVE_EXAMPLES = 10
CLIENT_KEY = "fuzz-client-key-0123456789"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    svc = ServiceProcess({"SRE_AI_API_KEYS": f"fuzz={CLIENT_KEY}",
                          "SRE_AI_EMBEDDING_CACHE_DIR": ""}, workdir, name="fuzz")
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def schema(service: ServiceProcess) -> Any:
    return schemathesis.openapi.from_url(service.url + "/openapi.json")


def _document() -> dict[str, Any]:
    """The routes' OpenAPI document, built at collection without create_app (which would
    configure logging for the whole session); the live one must list the same operations
    (test_the_parametrized_operations_are_the_live_ones)."""
    app = FastAPI()
    for router in (ask.router, alerts.router, health.router, ops.router):
        app.include_router(router)
    document: dict[str, Any] = app.openapi()
    return document


def _operations(*, with_input: bool = False) -> list[tuple[str, str]]:
    """(method, path) of every documented operation (with_input: those taking parameters or
    a body)."""
    return [(method.upper(), path) for path, item in _document()["paths"].items()
            for method, op in item.items()
            if not with_input or op.get("parameters") or op.get("requestBody")]


def _run(schema: Any, method: str, path: str, headers: dict[str, str], base_url: str, *,
         mode: GenerationMode = GenerationMode.POSITIVE, examples: int = MAX_EXAMPLES) -> None:
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    def check(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS)

    check()


@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_answers_within_its_schema_with_a_valid_key(
        schema: Any, service: ServiceProcess, method: str, path: str) -> None:
    _run(schema, method, path, AUTH, service.url)


@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_answers_within_its_schema_without_a_key(
        schema: Any, service: ServiceProcess, method: str, path: str) -> None:
    _run(schema, method, path, {}, service.url)
    # the protected operations refuse with a 401 the schema declares (checked above)


@pytest.mark.parametrize(("method", "path"), _operations(with_input=True))
def test_input_the_schema_refuses_gets_a_declared_4xx(
        schema: Any, service: ServiceProcess, method: str, path: str) -> None:
    _run(schema, method, path, AUTH, service.url, mode=GenerationMode.NEGATIVE,
         examples=MAX_NEGATIVE_EXAMPLES)


def test_the_parametrized_operations_are_the_live_ones(service: ServiceProcess) -> None:
    live = httpx.get(service.url + "/openapi.json", timeout=10).json()
    assert sorted((m.upper(), p) for p, item in live["paths"].items() for m in item) == sorted(
        _operations())


def test_the_service_log_has_no_unhandled_error(service: ServiceProcess) -> None:
    """Last in the module: the generated requests did reach the service, none crashed it."""
    logs = service.logs()
    assert logs.count('"msg":"request"') >= 100
    assert '"unhandled error"' not in logs
