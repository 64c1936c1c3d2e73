"""What every /ask pays for its HTTP machinery (issue 14): the route hands FastAPI finished
JSON bytes (no second validation and generic serialisation of the model it just built), and its
gate is one flat dependency. The contract (body, headers, status codes, their order) is the
same as before; the OpenAPI document is checked by tests/integration/hostile and
tests/integration/ratelimit/test_api.py."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import routing
from fastapi.routing import APIRoute

from app.api.routes import alerts, ask
from app.schemas import AskResponse
from tests.integration.ratelimit.conftest import ServiceFactory, auth

QUESTION = "pod OOMKilled, what now?"


@pytest.fixture
def serialised(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The routes whose return value FastAPI validated and serialised itself."""
    calls: list[str] = []
    original = routing.serialize_response

    async def counting(*args: Any, **kwargs: Any) -> Any:
        field = kwargs.get("field")
        calls.append(getattr(field, "name", "?"))
        return await original(*args, **kwargs)

    monkeypatch.setattr(routing, "serialize_response", counting)
    return calls


async def test_a_json_answer_is_encoded_once_by_the_route(
    service: ServiceFactory, serialised: list[str],
) -> None:
    async with service(rate_limits={"default": {"requests_per_minute": 100}}) as svc:
        paid = await svc.ask(QUESTION)
        hit = await svc.ask(QUESTION)
        assert svc.upstream_calls() == 1
    assert serialised == []  # neither answer went through FastAPI's response_model path
    for r, cached in ((paid, False), (hit, True)):
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        assert r.headers["vary"] == "Accept"
        assert r.headers["x-ratelimit-limit"] == "100"
        body = AskResponse.model_validate_json(r.content)  # the contract, strictly
        assert body.cached is cached and body.request_id == r.headers["x-request-id"]
        # exactly the bytes the model's own serializer writes (FastAPI's response_model form)
        assert r.content == body.model_dump_json().encode()


async def test_the_gate_keeps_its_order_a_wrong_key_before_a_bad_body(
    service: ServiceFactory,
) -> None:
    """One flat dependency, still resolved before the body: a wrong key with a malformed body
    is a 401; a known key's malformed body is a 422 that counts against its limit."""
    async with service(rate_limits={"default": {"requests_per_minute": 1}}) as svc:
        wrong = await svc.client.post("/ask", json={"question": ""},
                                      headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        bad = await svc.client.post("/ask", json={"question": ""}, headers=auth("alice"))
        assert bad.status_code == 422 and bad.headers["x-ratelimit-remaining"] == "0"
        assert (await svc.ask(QUESTION)).status_code == 429


def test_the_gated_routes_resolve_one_flat_dependency() -> None:
    """FastAPI resolves each dependency (and each of ITS dependencies) per request, ~30 us
    apiece on the bench machine: the gate of the routes that can spend is one step."""
    routes = {(r.path, m): r for router in (ask.router, alerts.router) for r in router.routes
              if isinstance(r, APIRoute) for m in r.methods or ()}
    for key in (("/ask", "POST"), ("/alerts", "POST")):
        dependencies = routes[key].dependant.dependencies
        assert [getattr(d.call, "__name__", None) for d in dependencies] == ["rate_limit"], key
        assert all(not d.dependencies for d in dependencies), key
