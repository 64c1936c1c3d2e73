"""A paid call logs through our summary line only: the HTTP clients' own per-request INFO line
("HTTP Request: POST .../v1/messages") stays out of the service's log unless it runs at DEBUG."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from app.llm.anthropic import AnthropicProvider
from app.llm.base import CompletionRequest
from app.logs import configure_logging
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.fixtures import FAKE_API_KEY

REQUEST = CompletionRequest("claude-sonnet-4-6", "You answer from runbooks.", "pod OOMKilled?",
                            256, 30)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield stream
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.NOTSET)


async def _one_call(url: str) -> None:
    provider = AnthropicProvider(FAKE_API_KEY, base_url=url)
    try:
        await provider.complete(REQUEST)
    finally:
        await provider.aclose()


@pytest.mark.parametrize(("level", "logged"), [("INFO", False), ("DEBUG", True)])
async def test_the_sdk_http_client_logs_its_requests_only_at_debug(
    fake_anthropic: FakeAnthropic, log_stream: io.StringIO, level: str, logged: bool
) -> None:
    configure_logging(level, "json", stream=log_stream)
    await _one_call(fake_anthropic.url)
    lines = log_stream.getvalue().splitlines()
    assert any("HTTP Request: POST" in line for line in lines) is logged
    assert FAKE_API_KEY not in log_stream.getvalue()
