"""The hostile-caller tests' harness: the real app in process (ASGI, lifespan run here) against
the in-process fake Anthropic API, with client keys, its own runbooks and a log level chosen
by the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.clock import ManualClock
from app.config import Settings
from app.main import create_app
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.fixtures import FAKE_API_KEY

CLIENT_KEY = "sk-client-oncall-5f0c1d2e3a4b5c6d7e8f9a0b"
SECRETS = (FAKE_API_KEY, CLIENT_KEY)
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}


@dataclass
class HostileService:
    app: FastAPI
    client: httpx.AsyncClient
    fake: FakeAnthropic

    async def ask(self, question: str, **body: Any) -> httpx.Response:
        return await self.client.post("/ask", json={"question": question, **body}, headers=AUTH)


HostileFactory = Callable[..., AbstractAsyncContextManager[HostileService]]


@pytest.fixture
def hostile_service(tmp_path: Path, fake_anthropic: FakeAnthropic) -> HostileFactory:
    """`async with hostile_service(runbooks_dir=..., log_level=...) as svc:`."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[HostileService]:
        settings = Settings(
            anthropic_api_key=SecretStr(FAKE_API_KEY),
            anthropic_base_url=fake_anthropic.url,
            api_keys=SecretStr(f"oncall={CLIENT_KEY}"),
            ledger_path=tmp_path / "ledger.sqlite3",
            embedding_cache_dir=None,
            watch_interval_seconds=60.0,
            **overrides,
        )
        app = create_app(settings, clock=ManualClock(datetime(2026, 11, 27, 7, 0, tzinfo=UTC)))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc",
                              timeout=30) as client,
        ):
            yield HostileService(app, client, fake_anthropic)

    return start
