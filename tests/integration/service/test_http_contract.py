"""The real service under uvicorn, driven over HTTP: the README's HTTP API contract on the
offline default and with the real anthropic SDK against the fake Anthropic server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.fixtures import FAKE_API_KEY
from tests.fakes.service_process import ServiceProcess, wait_until

pytestmark = pytest.mark.integration

Start = Callable[..., ServiceProcess]


def _series(metrics_text: str, name: str) -> list[str]:
    return [line for line in metrics_text.splitlines() if line.startswith(name + "{")]


def test_offline_default_answers_with_sources_then_from_cache(service_factory: Start) -> None:
    svc = service_factory()  # its own process: the test reads absolute counter values
    q = {"question": "pod OOMKilled, what now?"}
    first = httpx.post(svc.url + "/ask", json=q).json()
    assert first["model"] == "offline"
    assert "pod-oomkilled" in first["sources"]
    assert first["cached"] is False and first["cost_usd"] == 0
    second = httpx.post(svc.url + "/ask", json={"question": "Pod oomkilled - what now"}).json()
    assert second["cached"] is True
    assert second["answer"] == first["answer"]
    metrics = httpx.get(svc.url + "/metrics").text
    assert 'ai_cache_ops_total{result="hit"} 1.0' in metrics
    assert 'ai_requests_total{endpoint="/ask",status="200"} 2.0' in metrics


def test_unanswerable_question_is_honest_counted_and_not_cached(
    offline_service: ServiceProcess,
) -> None:
    svc = offline_service

    def no_answers() -> float:
        text = httpx.get(svc.url + "/metrics").text
        return float(
            next(
                line.split()[1]
                for line in text.splitlines()
                if line.startswith("ai_no_answer_total ")
            )
        )

    before = no_answers()
    for _ in range(2):
        body = httpx.post(svc.url + "/ask", json={"question": "bake a sourdough cake"}).json()
        assert body["answer"].startswith("I don't have information about that")
        assert body["sources"] == [] and body["cached"] is False
    assert no_answers() == before + 2


@pytest.mark.parametrize(
    ("send", "status", "code"),
    [
        (dict(json={}), 422, "invalid_request"),
        (dict(json={"question": ""}), 422, "invalid_request"),
        (dict(json={"question": "   "}), 400, "invalid_question"),
        (dict(json={"question": "x" * 2001}), 400, "invalid_question"),
        (dict(json={"question": "oom", "model": "gpt-4"}), 400, "unknown_model"),
        (dict(json={"question": "oom", "extra": 1}), 422, "invalid_request"),
        (
            dict(content=b'{"question": ', headers={"content-type": "application/json"}),
            422,
            "invalid_request",
        ),
        (
            dict(content=b"x" * 20000, headers={"content-type": "application/json"}),
            413,
            "body_too_large",
        ),
    ],
)
def test_bad_input_gets_a_clear_json_error(
    offline_service: ServiceProcess, send: dict[str, object], status: int, code: str
) -> None:
    svc = offline_service
    r = httpx.post(svc.url + "/ask", **send)  # type: ignore[arg-type]
    assert r.status_code == status
    body = r.json()
    assert body["error"] == code
    assert body["detail"]
    assert body["request_id"] == r.headers["x-request-id"]
    # every error body is written the same way, whichever layer refused the request
    assert r.content == json.dumps(body, separators=(",", ":")).encode()


def test_chunked_oversized_body_is_refused_without_a_content_length(
    offline_service: ServiceProcess,
) -> None:
    svc = offline_service

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 1024

    r = httpx.post(svc.url + "/ask", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_request_id_is_kept_when_sane_and_replaced_when_not(
    offline_service: ServiceProcess,
) -> None:
    svc = offline_service
    mine = "ticket-4711.retry_2"
    r = httpx.get(svc.url + "/health/live", headers={"X-Request-ID": mine})
    assert r.headers["x-request-id"] == mine
    evil = "bad id\nwith newline" + "x" * 200
    r = httpx.get(svc.url + "/health/live", headers={"X-Request-ID": evil[:150].replace("\n", " ")})
    assert r.headers["x-request-id"] != evil and len(r.headers["x-request-id"]) == 32


def test_random_urls_do_not_create_metric_series(offline_service: ServiceProcess) -> None:
    unmatched = 'ai_requests_total{endpoint="unmatched",status="404"}'
    with httpx.Client(base_url=offline_service.url) as client:
        client.get("/nope")
        client.get("/metrics")
        before = _series(client.get("/metrics").text, "ai_requests_total")
        for _ in range(1000):
            assert client.get(f"/{uuid.uuid4().hex}/{uuid.uuid4().hex}").status_code == 404
        after = _series(client.get("/metrics").text, "ai_requests_total")
    assert len(after) == len(before)

    def count(lines: list[str]) -> float:
        return float(next(line.split()[1] for line in lines if line.startswith(unmatched)))

    assert count(after) == count(before) + 1000


def test_one_json_summary_line_per_request(offline_service: ServiceProcess) -> None:
    svc = offline_service
    rid = "summary-line-check"
    httpx.post(
        svc.url + "/ask", json={"question": "CrashLoopBackOff"}, headers={"X-Request-ID": rid}
    )

    def summary() -> list[dict[str, object]]:
        return [json.loads(line) for line in svc.logs().splitlines() if rid in line]

    # the line is written once the response has been sent: on a loaded machine the client can
    # read the log before the server has flushed it
    wait_until(summary, timeout=10, what="the request's summary log line")
    lines = summary()
    assert len(lines) == 1
    line = lines[0]
    assert line["msg"] == "request" and line["endpoint"] == "/ask" and line["status"] == 200
    for field in ("model", "cached", "tokens", "cost_usd", "latency_s", "request_id"):
        assert field in line


def test_api_keys_protect_ask_cost_and_breaker_but_not_probes(service_factory: Start) -> None:
    svc = service_factory({"SRE_AI_API_KEYS": "oncall=s3cret-key,ci=other"})
    for method, path in (("post", "/ask"), ("get", "/cost"), ("get", "/circuit-breaker")):
        r = httpx.request(method, svc.url + path, json={"question": "oom"})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        r = httpx.request(
            method,
            svc.url + path,
            json={"question": "oom"},
            headers={"Authorization": "Bearer s3cret-key"},
        )
        assert r.status_code == 200
    assert httpx.get(svc.url + "/health/ready").status_code == 200
    assert httpx.get(svc.url + "/metrics").status_code == 200
    assert "s3cret-key" not in svc.logs()


def test_readiness_reports_policy_runbooks_ledger(offline_service: ServiceProcess) -> None:
    svc = offline_service
    body = httpx.get(svc.url + "/health/ready").json()
    assert body["status"] == "ready"
    assert body["ledger"] == "ok" and body["runbooks"]["count"] >= 12
    assert body["policy"]["hash"]


async def test_claude_answer_through_the_real_sdk_with_cost_and_tokens(
    service_factory: Start, fake_anthropic: FakeAnthropic
) -> None:
    svc = service_factory(
        {"ANTHROPIC_API_KEY": FAKE_API_KEY, "ANTHROPIC_BASE_URL": fake_anthropic.url}
    )
    async with httpx.AsyncClient(base_url=svc.url, timeout=30) as client:
        body = (await client.post("/ask", json={"question": "pod OOMKilled, what now?"})).json()
        assert body["model"] == "claude-sonnet-4-6"
        assert body["sources"] and body["sources"][0] == "pod-oomkilled"
        assert body["cost_usd"] > 0 and body["tokens"] > 0 and body["degraded"] is None
        again = (await client.post("/ask", json={"question": "pod oomkilled what now"})).json()
        assert again["cached"] is True and again["cost_usd"] == 0
        metrics = (await client.get("/metrics")).text
        cost = (await client.get("/cost")).json()
    assert fake_anthropic.stats["total"] == 1
    assert (
        'ai_upstream_requests_total{model="claude-sonnet-4-6",outcome="success"} 1.0'
        in metrics
    )
    assert 'ai_tokens_total{direction="output",model="claude-sonnet-4-6"}' in metrics
    hourly = next(w for w in cost["windows"] if w["window"] == "hourly")
    assert hourly["spent_usd"] == pytest.approx(body["cost_usd"], abs=1e-9)
    assert FAKE_API_KEY not in svc.logs()


async def test_two_slow_upstream_calls_overlap(
    service_factory: Start, fake_anthropic: FakeAnthropic
) -> None:
    svc = service_factory(
        {"ANTHROPIC_API_KEY": FAKE_API_KEY, "ANTHROPIC_BASE_URL": fake_anthropic.url}
    )
    fake_anthropic.fail(delay_seconds=1.5, count=2)
    async with httpx.AsyncClient(base_url=svc.url, timeout=30) as client:
        started = time.monotonic()
        a, b = await asyncio.gather(
            client.post("/ask", json={"question": "CrashLoopBackOff restarts"}),
            client.post("/ask", json={"question": "ImagePullBackOff on deploy"}),
        )
        elapsed = time.monotonic() - started
    assert a.status_code == b.status_code == 200
    # The event loop was not blocked: both calls were in flight at the same time.
    assert fake_anthropic.stats["max_in_flight"] == 2
    assert elapsed < 2.9
