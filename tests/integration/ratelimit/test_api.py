"""Rate limits through the real app (issue 17): the gate on /ask (JSON and streamed) and POST
/alerts, its 429 and headers, tokens charged after the answer, open mode, live policy changes.
In-process on a ManualClock, with the real fake Anthropic API behind the real SDK."""

from __future__ import annotations

import yaml

from app.config import parse_policy
from tests.integration.ratelimit.conftest import ServiceFactory, auth

LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def q(i: int) -> str:
    return f"pod OOMKilled what now (case {i})"


def tokens_charged(body: dict[str, object]) -> int:
    usage = body["usage"]
    assert isinstance(usage, dict)
    return int(usage["input"]) + int(usage["cache_write"]) + int(usage["output"])


async def test_a_key_over_its_requests_per_minute_gets_429_and_costs_the_upstream_nothing(
    service: ServiceFactory,
) -> None:
    limits = {"default": {"requests_per_minute": 5}, "keys": {"alice": {"requests_per_minute": 2}}}
    async with service(rate_limits=limits) as svc:
        first, second = await svc.ask(q(1)), await svc.ask(q(2))
        assert (first.status_code, second.status_code) == (200, 200)
        assert [first.headers["x-ratelimit-remaining"],
                second.headers["x-ratelimit-remaining"]] == ["1", "0"]
        assert first.headers["x-ratelimit-limit"] == "2"
        assert second.headers["x-ratelimit-reset"] == "60"
        calls = svc.upstream_calls()

        refused = await svc.ask(q(3))
        assert refused.status_code == 429, refused.text
        body = refused.json()
        assert body["error"] == "rate_limited" and "requests per minute" in body["detail"]
        assert body["request_id"] == refused.headers["x-request-id"]
        assert refused.headers["retry-after"] == "30"  # 60 s / 2: the next one fits in 30 s
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert refused.headers["x-ratelimit-limit"] == "2"
        assert svc.upstream_calls() == calls  # nothing reached Anthropic
        assert svc.sample("ai_rate_limited_total", limit="requests") == 1
        assert svc.sample("ai_rate_limit_checks_total") == 3

        other = await svc.ask(q(4), key="bob")  # bob has the default: a bucket of its own
        assert other.status_code == 200 and other.headers["x-ratelimit-limit"] == "5"

        svc.clock.advance(29)
        assert (await svc.ask(q(5))).status_code == 429
        svc.clock.advance(1)
        assert (await svc.ask(q(6))).status_code == 200


async def test_probes_and_metrics_are_never_limited(service: ServiceFactory) -> None:
    async with service(rate_limits={"default": {"requests_per_minute": 1}}) as svc:
        assert (await svc.ask(q(1))).status_code == 200
        for path in ("/health/live", "/health/ready", "/metrics", "/health/live"):
            r = await svc.client.get(path)
            assert r.status_code == 200, (path, r.text)
            assert not set(LIMIT_HEADERS) & set(r.headers), path
        assert svc.sample("ai_rate_limit_checks_total") == 1


async def test_tokens_are_charged_after_the_answer_and_a_cached_answer_is_free(
    service: ServiceFactory,
) -> None:
    tpm = 1_000_000
    async with service(rate_limits={"default": {"tokens_per_minute": tpm}}) as svc:
        paid = await svc.ask(q(1))
        assert paid.status_code == 200 and not paid.json()["cached"]
        used = tokens_charged(paid.json())
        assert used > 0
        assert paid.headers["x-ratelimit-remaining-tokens"] == str(tpm)  # charged after it
        cached = await svc.ask(q(1))
        assert cached.json()["cached"]
        assert cached.headers["x-ratelimit-remaining-tokens"] == str(tpm - used)
        after = await svc.ask(q(1))
        assert after.headers["x-ratelimit-remaining-tokens"] == str(tpm - used)  # hit: free
        assert "x-ratelimit-limit" not in after.headers  # no request limit for this key
        assert svc.sample("ai_rate_limit_tokens_charged_total") == used


async def test_token_debt_refuses_the_next_request_until_it_is_paid_back(
    service: ServiceFactory,
) -> None:
    tpm = 60  # a token a second: any answer leaves the key in debt
    async with service(rate_limits={"keys": {"alice": {"tokens_per_minute": tpm}}}) as svc:
        paid = await svc.ask(q(1))
        assert paid.status_code == 200
        used = tokens_charged(paid.json())
        assert used > tpm
        calls = svc.upstream_calls()
        refused = await svc.ask(q(2))
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert "tokens per minute" in refused.json()["detail"]
        # Back once one token is free again: (used - tpm) s of debt + 1 s for a token.
        assert refused.headers["retry-after"] == str(used - tpm + 1)
        assert refused.headers["x-ratelimit-remaining-tokens"] == "0"
        assert svc.upstream_calls() == calls
        assert svc.sample("ai_rate_limited_total", limit="tokens") == 1
        assert (await svc.ask(q(3), key="bob")).status_code == 200  # unlimited: no entry
        svc.clock.advance(used - tpm + 1)
        assert (await svc.ask(q(4))).status_code == 200


async def test_a_streamed_answer_carries_the_headers_and_charges_its_tokens(
    service: ServiceFactory,
) -> None:
    limits = {"default": {"requests_per_minute": 3, "tokens_per_minute": 1_000_000}}
    async with service(rate_limits=limits) as svc:
        async with svc.client.stream("POST", "/ask", json={"question": q(1), "stream": True},
                                     headers=auth("alice")) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["x-ratelimit-limit"] == "3"
            assert r.headers["x-ratelimit-remaining"] == "2"
            assert r.headers["x-ratelimit-limit-tokens"] == "1000000"
            text = (await r.aread()).decode()
        done = next(block for block in text.split("\n\n") if block.startswith("event: done"))
        used = tokens_charged(yaml.safe_load(done.partition("data: ")[2]))
        assert used > 0
        nxt = await svc.ask(q(2))
        assert nxt.headers["x-ratelimit-remaining-tokens"] == str(1_000_000 - used)
        assert (await svc.ask(q(3))).status_code == 200
        refused = await svc.client.post("/ask", json={"question": q(4), "stream": True},
                                        headers=auth("alice"))
        assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
        assert refused.headers["retry-after"] == "20"


def notification(fingerprint: str) -> dict[str, object]:
    alert = {"status": "firing", "labels": {"alertname": "KubePodCrashLooping",
                                            "namespace": "shop", "severity": "critical"},
             "annotations": {}, "startsAt": "2026-11-30T10:00:00Z",
             "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph",
             "fingerprint": fingerprint}
    return {"version": "4", "status": "firing", "groupKey": "g", "receiver": "sre-ai",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://am", "truncatedAlerts": 0, "alerts": [alert]}


async def test_alertmanager_notifications_are_limited_per_key_too(service: ServiceFactory) -> None:
    limits = {"keys": {"bob": {"requests_per_minute": 1}}}
    async with service(rate_limits=limits) as svc:
        ok = await svc.client.post("/alerts", json=notification("fp-1"), headers=auth("bob"))
        assert ok.status_code == 200 and ok.headers["x-ratelimit-remaining"] == "0"
        received = svc.sample("ai_alerts_received_total", status="firing")
        refused = await svc.client.post("/alerts", json=notification("fp-2"),
                                        headers=auth("bob"))
        assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
        assert refused.headers["retry-after"] == "60"
        assert svc.sample("ai_alerts_received_total", status="firing") == received
        # The read-only list spends nothing and is not limited.
        recent = await svc.client.get("/alerts/recent", headers=auth("bob"))
        assert recent.status_code == 200 and "x-ratelimit-limit" not in recent.headers


async def test_open_mode_limits_every_request_as_one_anonymous_caller(
    service: ServiceFactory,
) -> None:
    async with service(rate_limits={"default": {"requests_per_minute": 2}}, keys=False) as svc:
        assert [(await svc.ask(q(i), key=None)).status_code for i in range(3)] == [200, 200, 429]


async def test_a_wrong_key_is_refused_before_the_rate_limit_and_spends_none(
    service: ServiceFactory,
) -> None:
    async with service(rate_limits={"default": {"requests_per_minute": 1}}) as svc:
        bad = await svc.client.post("/ask", json={"question": q(1)},
                                    headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and "x-ratelimit-limit" not in bad.headers
        assert (await svc.ask(q(2))).status_code == 200


async def test_a_new_policy_applies_at_once(service: ServiceFactory) -> None:
    async with service(rate_limits={"default": {"requests_per_minute": 1}}) as svc:
        assert (await svc.ask(q(1))).status_code == 200
        assert (await svc.ask(q(2))).status_code == 429
        text = yaml.safe_dump({"rate_limits": {"keys": {"alice": {"requests_per_minute": 0}}}})
        outcome = svc.runtime.policies.apply_text(text, "test")
        assert svc.runtime.policies.current.digest == parse_policy(text).digest, outcome
        r = await svc.ask(q(3))
        assert r.status_code == 200 and "x-ratelimit-limit" not in r.headers


async def test_the_openapi_document_lists_the_429_and_the_headers(service: ServiceFactory) -> None:
    async with service(rate_limits={}) as svc:
        paths = (await svc.client.get("/openapi.json")).json()["paths"]
    for path in ("/ask", "/alerts"):
        responses = paths[path]["post"]["responses"]
        assert "rate_limited" in responses["429"]["description"], path
        assert {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Reset-Tokens"} <= set(
            responses["429"]["headers"]), path
        assert "X-RateLimit-Remaining" in responses["200"]["headers"], path
        assert responses["429"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorResponse")


async def test_budgets_still_apply_within_the_rate_limit(service: ServiceFactory) -> None:
    """Rate limits protect the service, budgets the money: passing one is not passing both."""
    async with service(rate_limits={"default": {"requests_per_minute": 10}},
                       budgets={"hourly_usd": 0.0},
                       degradation={"offline": False, "stale_cache": False}) as svc:
        r = await svc.ask(q(1))
        assert r.status_code == 429 and r.json()["error"] == "budget_exhausted", r.text
        assert r.headers["x-budget-window"] == "hourly"
        assert r.headers["x-ratelimit-remaining"] == "9"  # the request was counted
        assert svc.upstream_calls() == 0
