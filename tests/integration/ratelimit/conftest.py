"""Harness for the rate limit tests: the app in-process on a ManualClock (so "a minute passes" is
`clock.advance(60)`), client keys of its own, the policy's `rate_limits` given per test, the
real fake Anthropic API, and optionally a real redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from app.clock import ManualClock
from app.config import Settings
from app.main import create_app
from app.runtime import Runtime
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.fixtures import FAKE_API_KEY
from tests.fakes.redis_server import (  # noqa: F401 - re-exported fixtures
    private_redis_server,
    redis_server,
)

KEYS = {"alice": "key-alice-0123456789", "bob": "key-bob-0123456789"}


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name]}"}


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    clock: ManualClock
    fake: FakeAnthropic

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    def sample(self, name: str, **labels: str) -> float:
        value = self.runtime.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    def upstream_calls(self) -> int:
        return int(self.fake.stats["total"])

    async def ask(self, question: str, key: str | None = "alice", **body: Any) -> httpx.Response:
        headers = auth(key) if key else {}
        return await self.client.post("/ask", json={"question": question, **body},
                                      headers=headers)


ServiceFactory = Callable[..., AbstractAsyncContextManager[Service]]


@pytest.fixture
def service(tmp_path: Path, fake_anthropic: FakeAnthropic) -> ServiceFactory:
    """`async with service(rate_limits={...}) as svc:`; `keys=False` runs in open mode; other
    keyword arguments are further policy sections."""

    @asynccontextmanager
    async def start(*, rate_limits: dict[str, Any], keys: bool = True,
                    redis_url: str | None = None, **sections: Any) -> AsyncIterator[Service]:
        policy = tmp_path / "policy.yaml"
        policy.write_text(yaml.safe_dump({"rate_limits": rate_limits, **sections}),
                          encoding="utf-8")
        settings = Settings(
            anthropic_api_key=FAKE_API_KEY,
            anthropic_base_url=fake_anthropic.url,
            policy_file=policy,
            ledger_path=tmp_path / "ledger.sqlite3",
            redis_url=redis_url,
            api_keys=",".join(f"{n}={k}" for n, k in KEYS.items()) if keys else None,
            watch_interval_seconds=60.0,
        )
        clock = ManualClock(datetime(2026, 11, 27, 7, 0, tzinfo=UTC))
        app = create_app(settings, clock=clock)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc",
                              timeout=30) as client,
        ):
            yield Service(app, client, clock, fake_anthropic)

    return start
