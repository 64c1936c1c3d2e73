"""Rate limits across the fleet (issue 17's test, the rate limit share of it): two real uvicorn
processes share one redis-server; three API keys with different limits send concurrent load to
both. Each key's admitted requests stay within its limit across BOTH processes, the refused ones
got 429 with Retry-After and X-RateLimit-*, and a refused request cost the upstream nothing
(the fake Anthropic API counts what arrives). Admitted calls are held at the fake until every
request is decided, so "the window" is the few seconds the decisions take."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fakes.redis_server import RedisServer
from tests.fakes.service_process import ServiceProcess, wait_until
from tests.integration.money.conftest import (
    ThreadedFake,
    gated_fake,  # noqa: F401 - the module's fake Anthropic API
    metric_sum,
    policy_yaml,
    service_env,
    start_all,
)

pytestmark = pytest.mark.integration

KEYS = {"alpha": "key-alpha-0123456789", "beta": "key-beta-0123456789",
        "gamma": "key-gamma-0123456789"}
LIMITS = {"alpha": 3, "beta": 7, "gamma": 1000}  # requests per minute
SENT = {"alpha": 12, "beta": 20, "gamma": 10}
DECIDE_TIMEOUT_SECONDS = 300.0


@dataclass
class Pair:
    replicas: list[ServiceProcess]
    fake: ThreadedFake


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, gated_fake: ThreadedFake  # noqa: F811
         ) -> Iterator[Pair]:
    try:
        server = RedisServer.start()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    workdir: Path = tmp_path_factory.mktemp("ratelimit-fleet")
    policy = yaml.safe_load(policy_yaml())
    policy["rate_limits"] = {"keys": {k: {"requests_per_minute": v} for k, v in LIMITS.items()}}
    policy_file = workdir / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    env = service_env(gated_fake, policy_file, SRE_AI_REDIS_URL=server.url,
                      SRE_AI_API_KEYS=",".join(f"{n}={k}" for n, k in KEYS.items()))
    replicas = [ServiceProcess(env, workdir, name=f"replica{i}") for i in range(2)]
    try:
        start_all(replicas)
        yield Pair(replicas, gated_fake)
    finally:
        for svc in replicas:
            svc.stop()
        server.close()


@dataclass
class Outcome:
    key: str
    replica: int
    status: int
    headers: dict[str, str]
    body: dict[str, Any]  # the response's JSON


async def _load(urls: list[str], sends: list[tuple[str, str]], done: list[Outcome]) -> None:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(limits=limits, timeout=600) as client:
        async def one(i: int, key: str, question: str) -> None:
            r = await client.post(urls[i % len(urls)] + "/ask", json={"question": question},
                                  headers={"Authorization": f"Bearer {KEYS[key]}"})
            done.append(Outcome(key, i % len(urls), r.status_code, dict(r.headers), r.json()))

        await asyncio.gather(*(one(i, k, q) for i, (k, q) in enumerate(sends)))


def test_each_keys_limit_holds_across_both_processes_and_refusals_cost_nothing(
    pair: Pair,
) -> None:
    sends = [(key, f"pod OOMKilled, what now? ticket {key}{i:04d}")
             for i in range(max(SENT.values())) for key in KEYS if i < SENT[key]]
    pair.fake.hold()  # admitted calls wait at the upstream until every request is decided
    done: list[Outcome] = []
    pool = ThreadPoolExecutor(1)
    started = time.monotonic()
    future = pool.submit(asyncio.run, _load([s.url for s in pair.replicas], sends, done))
    try:
        wait_until(lambda: len(done) + pair.fake.held == len(sends),
                   timeout=DECIDE_TIMEOUT_SECONDS, what="every request admitted or refused")
        decided_in = time.monotonic() - started
        held = len(pair.fake.arrived)
    finally:
        pair.fake.release()
        future.result(timeout=DECIDE_TIMEOUT_SECONDS)
        pool.shutdown()

    assert len(done) == len(sends)
    for key, limit in LIMITS.items():
        mine = [o for o in done if o.key == key]
        admitted = [o for o in mine if o.status == 200]
        refused = [o for o in mine if o.status != 200]
        # GCRA: a minute's burst, then one every 60/limit s of the time the decisions took.
        most = min(SENT[key], limit + math.floor(limit * decided_in / 60))
        assert min(SENT[key], limit) <= len(admitted) <= most, (key, len(admitted), decided_in)
        for o in refused:
            assert o.status == 429, o.body
            assert o.body["error"] == "rate_limited" and o.body["request_id"]
            assert 1 <= int(o.headers["retry-after"]) <= math.ceil(60 / limit)
            assert o.headers["x-ratelimit-limit"] == str(limit)
            assert o.headers["x-ratelimit-remaining"] == "0"
        for o in admitted:
            assert o.headers["x-ratelimit-limit"] == str(limit)
            assert 0 <= int(o.headers["x-ratelimit-remaining"]) < limit
    # Every admitted request made one paid call, and no refused one reached the upstream.
    admitted_total = sum(o.status == 200 for o in done)
    assert held == admitted_total == len(pair.fake.arrived)
    assert all(o.body.get("cost_usd", 0) > 0 for o in done if o.status == 200)

    # Redis decided every one of them (none fell back to a replica's own buckets)...
    assert [metric_sum(s, "ai_rate_limit_local_decisions_total") for s in pair.replicas] == [0, 0]
    assert sum(metric_sum(s, 'ai_rate_limited_total{limit="requests"}')
               for s in pair.replicas) == sum(o.status == 429 for o in done)

    # ...and the state is the fleet's: alpha, refused on one process, is refused on the other too.
    for svc in pair.replicas:
        r = httpx.post(svc.url + "/ask", json={"question": "node NotReady"}, timeout=60,
                       headers={"Authorization": f"Bearer {KEYS['alpha']}"})
        assert r.status_code == 429 and r.headers["x-ratelimit-remaining"] == "0"

    # A streamed answer carries the headers too, read from the same shared bucket.
    with httpx.stream("POST", pair.replicas[1].url + "/ask", timeout=60,
                      json={"question": "node disk pressure evictions", "stream": True},
                      headers={"Authorization": f"Bearer {KEYS['gamma']}"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-ratelimit-limit"] == "1000"
        assert r.headers["x-ratelimit-remaining"].isdigit()
        r.read()
