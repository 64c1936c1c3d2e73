"""No policy that validates can break a route.

`hourly_usd: .inf` once passed validation and from then on /health/ready, /ask, /metrics and
/cost answered 500 on every pod. Here every numeric field of the policy is pushed to its lowest
and its highest accepted value (tests/policy_extremes.py derives them from the pydantic models,
so new fields are covered), plus all of them at once, and each policy is applied to the running
app (the real pipeline, the real SDK against the fake Anthropic server) through the same reload
path a ConfigMap edit takes, on the SQLite and on the Redis ledger. The operator and client
routes must never answer 5xx. The free rungs stay enabled: with them disabled, 502/503 are
designed answers, not breakage.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.clock import ManualClock
from app.config import Settings
from app.main import create_app
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.fixtures import FAKE_API_KEY
from tests.fakes.redis_server import RedisServer, private_redis_server  # noqa: F401 - fixture
from tests.integration.resilience.conftest import (
    PRIMARY,
    InProcessFactory,
    InProcessService,
    question,
    write_policy,
)
from tests.policy_extremes import extreme_documents

pytestmark = pytest.mark.integration

ROUTES = ("/health/ready", "/metrics", "/cost", "/circuit-breaker")


async def apply_each_and_probe(svc: InProcessService) -> list[str]:
    """Apply every extreme policy in turn; return what answered 5xx (or raised)."""
    documents = extreme_documents()
    assert len(documents) > 40
    broken: list[str] = []

    async def check(name: str, method: str, path: str, **kw: Any) -> None:
        # In process an app exception reaches the test (ASGITransport re-raises it); a server
        # would answer 500. Both count as broken.
        try:
            r = await svc.client.request(method, path, **kw)
        except Exception as exc:  # reported below, with the policy
            broken.append(f"{name}: {method} {path} raised {exc!r}")
            return
        if r.status_code >= 500:
            broken.append(f"{name}: {method} {path} -> {r.status_code} {r.text[:200]}")

    for i, (name, doc) in enumerate(documents):
        outcome = svc.runtime.policies.apply_text(yaml.safe_dump(doc), origin=name)
        assert outcome.result == "applied", (name, outcome.message)
        # twice: a paid call, then (for most policies) the cache or a breaker refusal
        for _ in range(2):
            await check(name, "POST", "/ask", json={"question": question(i)})
        svc.fake.fail(429, retry_after=10**9, model=PRIMARY)
        await check(name, "POST", "/ask", json={"question": f"{question(i)} rate limited"})
        svc.fake.clear_faults()
        for path in ROUTES:
            await check(name, "GET", path)
        svc.advance(86_400)  # let holds and open waits from this policy run out
    return broken


async def test_no_valid_policy_breaks_a_route(in_process: InProcessFactory) -> None:
    async with in_process() as svc:
        assert await apply_each_and_probe(svc) == []


async def test_no_valid_policy_breaks_a_route_on_the_redis_ledger(
    tmp_path: Path, fake_anthropic: FakeAnthropic, request: pytest.FixtureRequest
) -> None:
    """The Redis store does its arithmetic in Lua doubles: the bounds must keep it exact."""
    redis: RedisServer = request.getfixturevalue("private_redis_server")
    settings = Settings(
        anthropic_api_key=FAKE_API_KEY,
        anthropic_base_url=fake_anthropic.url,
        policy_file=write_policy(tmp_path / "policy.yaml"),
        redis_url=redis.url,
        watch_interval_seconds=60.0,
    )
    clock = ManualClock(datetime(2026, 11, 27, 7, 0, tzinfo=UTC))
    app = create_app(settings, clock=clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://svc", timeout=30
        ) as client,
    ):
        svc = InProcessService(app, client, clock, fake_anthropic)
        assert svc.runtime.ledger_kind == "redis"
        assert await apply_each_and_probe(svc) == []


async def test_a_count_window_smaller_than_minimum_calls_still_opens(
    in_process: InProcessFactory,
) -> None:
    async with in_process(breaker={"window_size": 2, "minimum_calls": 10}) as svc:
        await svc.trip(PRIMARY, first_index=0)  # asserts it opens within 20 calls
        snap = (await svc.client.get("/circuit-breaker")).json()["breakers"][PRIMARY]
        assert snap["state"] == "open" and snap["calls_in_window"] == 2
