"""Harnesses for the resilience tests (issue 5): the real pipeline against the fake Anthropic API.

Two ways to run the service:

- `in_process`: `create_app(settings, clock=ManualClock)` driven through its ASGI interface
  (httpx.ASGITransport, lifespan run here), with the fake Anthropic server on the same event
  loop. The breaker, cache and budget windows read the ManualClock, so "wait 30 s in OPEN" is
  `clock.advance(30)`: no sleeping, and the test decides exactly when time passes. The HTTP
  calls to the fake are real (the anthropic SDK on aiohttp over loopback).
- `service_factory` (tests/conftest.py): the real service under uvicorn in its own process, for
  what needs real time: timeouts against a hanging upstream.
"""

from __future__ import annotations

import math
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

from app.clock import Clock, ManualClock, SystemClock
from app.config import Settings
from app.main import create_app
from app.runtime import Runtime
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.fixtures import FAKE_API_KEY
from tests.fakes.redis_server import private_redis_server  # noqa: F401 - re-exported fixture

PRIMARY = "claude-sonnet-4-6"
FALLBACK = "claude-haiku-4-5-20251001"
WAIT_IN_OPEN_SECONDS = 10.0
PERMITTED_IN_HALF_OPEN = 2

# Distinct questions the bundled runbooks can answer (distinct cache keys, one per index).
TOPICS = (
    "pod OOMKilled what now",
    "CrashLoopBackOff restarts",
    "ImagePullBackOff on deploy",
    "node NotReady",
    "node disk pressure evictions",
    "TLS certificate expiry",
    "DNS resolution failures",
    "HPA not scaling",
    "database connection exhaustion",
    "redis memory pressure",
)


def question(i: int) -> str:
    """An answerable question with a cache key of its own."""
    return f"{TOPICS[i % len(TOPICS)]} (case {i})"


def policy_document(**sections: dict[str, Any]) -> dict[str, Any]:
    """A policy with a small count window so a handful of calls decide the state."""
    doc: dict[str, Any] = {
        "breaker": {
            "window_type": "count",
            "window_size": 4,
            "minimum_calls": 4,
            "failure_rate_threshold": 50,
            "slow_call_duration_seconds": 20,
            "wait_in_open_seconds": WAIT_IN_OPEN_SECONDS,
            "permitted_in_half_open": PERMITTED_IN_HALF_OPEN,
        },
        "llm": {"timeout_seconds": 2},
    }
    for name, values in sections.items():
        doc[name] = {**doc.get(name, {}), **values}
    return doc


def write_policy(path: Path, **sections: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(policy_document(**sections)), encoding="utf-8")
    return path


def metric_value(metrics_text: str, name: str, **labels: str) -> float:
    """One sample from Prometheus exposition text (what a scraper sees); NaN when absent."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    prefix = f"{name}{{{want}}} " if labels else f"{name} "
    for line in metrics_text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return math.nan


@dataclass
class InProcessService:
    app: FastAPI
    client: httpx.AsyncClient
    clock: Clock
    fake: FakeAnthropic

    def advance(self, seconds: float) -> None:
        """Simulated time passes (breaker waits, cache ages, retry-after holds)."""
        assert isinstance(self.clock, ManualClock), "this service runs on the real clock"
        self.clock.advance(seconds)

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    def sample(self, name: str, **labels: str) -> float:
        value = self.runtime.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    def degraded(self, mode: str) -> float:
        return self.sample("ai_degraded_responses_total", mode=mode)

    def state(self, model: str) -> str:
        return self.runtime.breakers.get(model).state.value

    def upstream_calls(self, model: str | None = None) -> int:
        stats = self.fake.stats
        return int(stats["total"] if model is None else stats["by_model"].get(model, 0))

    async def ask(self, q: str, **body: Any) -> httpx.Response:
        return await self.client.post("/ask", json={"question": q, **body})

    async def trip(self, model: str, *, first_index: int) -> int:
        """Open `model`'s breaker with 500s on fresh questions; returns the next free index."""
        self.fake.fail(500, model=model, until_cleared=True)
        i = first_index
        while self.state(model) != "open":
            assert i < first_index + 20, f"{model} never opened"
            assert (await self.ask(question(i))).status_code == 200
            i += 1
        self.fake.clear_faults()
        return i


def summary_line(caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    """The fields of the last /ask request's summary log line (app.access "request")."""
    lines = [r for r in caplog.records if r.name == "app.access" and r.getMessage() == "request"
             and r.__dict__.get("fields", {}).get("endpoint") == "/ask"]
    assert lines, "no summary line for /ask"
    fields: dict[str, Any] = lines[-1].__dict__["fields"]
    return fields


InProcessFactory = Callable[..., AbstractAsyncContextManager[InProcessService]]


@pytest.fixture
def in_process(tmp_path: Path, fake_anthropic: FakeAnthropic) -> InProcessFactory:
    """`async with in_process(breaker={...}, degradation={...}) as svc:` the app on a ManualClock
    (or the system clock with `real_time=True`), pointed at the in-process fake, its ledger and
    answer cache on `redis_url` when given; the other keyword arguments override policy
    sections."""

    @asynccontextmanager
    async def start(
        *, real_time: bool = False, redis_url: str | None = None, **sections: dict[str, Any]
    ) -> AsyncIterator[InProcessService]:
        settings = Settings(
            anthropic_api_key=FAKE_API_KEY,
            anthropic_base_url=fake_anthropic.url,
            policy_file=write_policy(tmp_path / "policy.yaml", **sections),
            ledger_path=tmp_path / "ledger.sqlite3",
            redis_url=redis_url,
            watch_interval_seconds=60.0,  # nothing here edits the files
        )
        clock: Clock = (
            SystemClock() if real_time else ManualClock(datetime(2026, 11, 27, 7, 0, tzinfo=UTC))
        )
        app = create_app(settings, clock=clock)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://svc", timeout=30
            ) as client,
        ):
            yield InProcessService(app, client, clock, fake_anthropic)

    return start
