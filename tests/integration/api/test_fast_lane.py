"""POST /ask's fast lane (app/api/fast_lane.py) answers exactly as FastAPI's own handler does.

Differential: each body is sent once with `content-type: application/json` (the lane, when the
model accepts the body) and once with `application/json; charset=utf-8`, which FastAPI treats as
JSON too but the lane leaves to FastAPI. Status, headers and body must be the same, apart from
the request id and the measured latency. Each body is asked once beforehand so that both
answers are cache hits (a first answer pays, the second is cached: not a difference of path)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import routing
from fastapi.dependencies.utils import solve_dependencies

from tests.integration.ratelimit.conftest import ServiceFactory, auth

LANE = "application/json"
FASTAPI = "application/json; charset=utf-8"
Q = "pod OOMKilled, what now?"
BODIES: list[bytes] = [
    json.dumps({"question": Q}).encode(),
    json.dumps({"question": Q, "model": None, "stream": False}).encode(),
    json.dumps({"question": "Pod oomkilled - what now"}).encode(),  # the same cache key
    json.dumps({"question": "disk full on /var, pod evicted"}, ensure_ascii=False).encode(),
    json.dumps({"question": "nœud «NotReady» — que faire ?"}, ensure_ascii=False).encode(),
    b'{"question": "a", "question": "CrashLoopBackOff"}',  # duplicate key: the last wins
    b'{"question": "lone \\ud800 surrogate"}',
    json.dumps({"question": Q, "model": "gpt-4"}).encode(),  # 400 unknown_model
    json.dumps({"question": "   "}).encode(),  # 400 invalid_question
    json.dumps({"question": "x" * 2001}).encode(),  # 400 invalid_question
    json.dumps({"question": ""}).encode(),  # 422 from here on
    json.dumps({"question": 1}).encode(),
    json.dumps({"question": Q, "extra": 1}).encode(),
    json.dumps({"question": Q, "stream": "maybe"}).encode(),
    json.dumps({"question": Q, "stream": "yes"}).encode(),  # strict: JSON true/false only
    json.dumps({"question": Q, "stream": 1}).encode(),
    b"{}", b"[]", b"null", b'"question"', b"", b'{"question": ', b"\xff\xfe{}",
    b'{"question": NaN}',
]


def _comparable(r: httpx.Response) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in r.headers.items() if k not in {"x-request-id"}}
    try:
        body: Any = r.json()
    except ValueError:
        return r.status_code, headers, r.text
    if isinstance(body, dict):
        assert body.pop("request_id", r.headers["x-request-id"]) == r.headers["x-request-id"]
        if "latency_s" in body:
            body["latency_s"] = 0
            headers["content-length"] = "-"  # the latency's digits
    return r.status_code, headers, body


@pytest.fixture
def handled_by_fastapi(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Requests whose dependencies FastAPI solved (its request handler ran)."""
    calls: list[str] = []
    original = solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["request"].url.path)
        return await original(*args, **kwargs)

    monkeypatch.setattr(routing, "solve_dependencies", counting)
    return calls


async def test_the_lane_and_fastapis_handler_answer_alike(
    service: ServiceFactory, handled_by_fastapi: list[str],
) -> None:
    async with service(rate_limits={}) as svc:

        async def post(body: bytes, content_type: str) -> httpx.Response:
            return await svc.client.post("/ask", content=body, headers={
                **auth("alice"), "content-type": content_type})

        for body in BODIES:
            await post(body, FASTAPI)  # a first answer pays; both below are cache hits
            handled_by_fastapi.clear()
            general = await post(body, FASTAPI)
            solved = len(handled_by_fastapi)  # 0 when FastAPI stopped at a JSON decode error
            handled_by_fastapi.clear()
            lane = await post(body, LANE)
            assert _comparable(lane) == _comparable(general), body
            if general.status_code == 422:  # refused by the model: FastAPI's handler, both
                assert len(handled_by_fastapi) == solved, body
            else:  # accepted by the model: the lane
                assert solved == 1 and handled_by_fastapi == [], body


async def test_a_well_formed_question_skips_fastapis_handler_only_on_the_gated_route(
    service: ServiceFactory, handled_by_fastapi: list[str],
) -> None:
    async with service(rate_limits={"default": {"requests_per_minute": 10}}) as svc:
        r = await svc.ask(Q)
        assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "9"
        assert handled_by_fastapi == []
        assert (await svc.client.get("/cost", headers=auth("alice"))).status_code == 200
        assert handled_by_fastapi == ["/cost"]
