"""The in-flight limit's slots (app/api/load_shedding.py) come back whatever ends a request: a
request cancelled while its paid call hangs (a client gone, a server stopping) frees its slot as
surely as an answer does. In process, the real fake Anthropic API behind the real SDK."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.fixtures import FAKE_API_KEY


@contextlib.asynccontextmanager
async def service(tmp_path: Path, fake: FakeAnthropic, limit: int
                  ) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = Settings(anthropic_api_key=FAKE_API_KEY, anthropic_base_url=fake.url,
                        ledger_path=tmp_path / "ledger.sqlite3", max_in_flight=limit,
                        watch_interval_seconds=60.0)
    app = create_app(settings)
    async with (app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc",
                                  timeout=30) as client):
        yield app, client


async def until_in_flight(fake: FakeAnthropic, count: int) -> None:
    """Wait for the fake's in-flight count, not for a time (30 s: an upper bound)."""
    try:
        async with asyncio.timeout(30):
            await fake.until_in_flight(count)
    except TimeoutError:
        pytest.fail(f"never {count} calls in flight at the fake")


def ask(client: httpx.AsyncClient, question: str) -> asyncio.Task[httpx.Response]:
    return asyncio.create_task(client.post("/ask", json={"question": question}))


async def test_a_cancelled_request_gives_its_slot_back(
    tmp_path: Path, fake_anthropic: FakeAnthropic,
) -> None:
    async with service(tmp_path, fake_anthropic, limit=1) as (_, client):
        fake_anthropic.fail(hang=True)
        held = ask(client, "pod OOMKilled, what now? (held)")
        await until_in_flight(fake_anthropic, 1)
        assert (await client.post("/ask", json={"question": "disk full?"})).status_code == 503

        held.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await held
        await until_in_flight(fake_anthropic, 0)
        after = await client.post("/ask", json={"question": "disk full?"})
        assert after.status_code == 200, after.text


async def test_no_limit_admits_every_request(
    tmp_path: Path, fake_anthropic: FakeAnthropic,
) -> None:
    """0 turns the limit off: requests beyond any count are served."""
    async with service(tmp_path, fake_anthropic, limit=0) as (app, client):
        fake_anthropic.fail(hang=True, count=3)
        held = [ask(client, f"pod OOMKilled, what now? ({i})") for i in range(3)]
        await until_in_flight(fake_anthropic, 3)
        served = await client.post("/ask", json={"question": "disk full?"})
        assert served.status_code == 200, served.text
        metrics = app.state.runtime.metrics
        assert metrics.registry.get_sample_value("ai_in_flight_limit") == 0
        assert metrics.registry.get_sample_value(
            "ai_requests_shed_total", {"endpoint": "/ask"}) == 0
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/metrics", "/cost"])
async def test_routes_without_paid_work_are_never_counted_or_shed(
    tmp_path: Path, fake_anthropic: FakeAnthropic, path: str,
) -> None:
    async with service(tmp_path, fake_anthropic, limit=1) as (_, client):
        fake_anthropic.fail(hang=True)
        held = ask(client, "pod OOMKilled, what now? (held)")
        await until_in_flight(fake_anthropic, 1)
        assert (await client.get(path)).status_code == 200
        held.cancel()
        await asyncio.gather(held, return_exceptions=True)
