"""Two real replicas sharing a real redis-server, answering from the fake Anthropic API: the
Alertmanager receiver's proofs (issue 15). One fleet per module: starting replicas costs seconds;
the tests use their own alert names and groups, and compare before/after."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fakes.redis_server import RedisServer
from tests.fakes.service_process import ServiceProcess
from tests.integration.money.conftest import (  # noqa: F401 - re-exported fixture
    PRICES,
    SONNET,
    ThreadedFake,
    gated_fake,
    service_env,
    start_all,
)

API_KEY = "am-key-0123456789abcdef"  # what Alertmanager's credentials_file holds
AUTH = {"Authorization": f"Bearer {API_KEY}"}
PAID_PER_GROUP = 3
TIMEOUT = 30.0


@dataclass
class Fleet:
    a: ServiceProcess
    b: ServiceProcess
    fake: ThreadedFake
    redis: RedisServer

    def post(self, svc: ServiceProcess, body: Any, **kw: Any) -> httpx.Response:
        return httpx.post(svc.url + "/alerts", json=body, headers=AUTH, timeout=TIMEOUT, **kw)

    def recent(self, svc: ServiceProcess, **params: Any) -> list[dict[str, Any]]:
        r = httpx.get(svc.url + "/alerts/recent", params=params, headers=AUTH, timeout=TIMEOUT)
        r.raise_for_status()
        out: list[dict[str, Any]] = r.json()
        return out


@pytest.fixture(scope="module")
def redis_for_alerts() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (tools/install-test-deps.sh)")
    server = RedisServer.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, gated_fake: ThreadedFake,  # noqa: F811
          redis_for_alerts: RedisServer) -> Iterator[Fleet]:
    work: Path = tmp_path_factory.mktemp("alerts")
    policy = work / "policy.yaml"
    policy.write_text(yaml.safe_dump({
        "models": PRICES, "routing": {"default_model": SONNET},
        "alerts": {"paid_per_group": PAID_PER_GROUP, "paid_per_minute": 1000},
    }))
    env = service_env(gated_fake, policy, SRE_AI_REDIS_URL=redis_for_alerts.url,
                      SRE_AI_API_KEYS=f"alertmanager={API_KEY}")
    a = ServiceProcess(env, work, name="a")
    b = ServiceProcess(env, work, name="b")
    start_all([a, b])
    yield Fleet(a, b, gated_fake, redis_for_alerts)
    a.stop()
    b.stop()
