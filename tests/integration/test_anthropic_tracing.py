"""The anthropic SDK's own OpenTelemetry spans (app/opentelemetry_sdk.py): with only the
OpenTelemetry API installed (the image) no span can record, so the provider does not have the SDK
build them (8 % of a call's CPU); where an OpenTelemetry SDK is installed, the SDK keeps its
default. The real SDK against the fake API; `start_api_call_span` is counted, and still runs."""

from __future__ import annotations

import importlib.util
from typing import Any

import anthropic._base_client
import pytest

from app.llm.anthropic import AnthropicProvider
from app.llm.base import CompletionRequest
from tests.fakes import fixtures
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.fixtures import FAKE_API_KEY

pytestmark = pytest.mark.integration

fake_anthropic = fixtures.fake_anthropic

REQUEST = CompletionRequest(model="claude-sonnet-4-6", system="Answer from the runbooks.",
                            prompt="pod OOMKilled, what now?", max_tokens=256,
                            timeout_seconds=5.0)


def count_spans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    started: list[str] = []
    real = anthropic._base_client.start_api_call_span  # type: ignore[attr-defined]

    def counting(*args: Any, **kwargs: Any) -> Any:
        started.append(args[2].span_name or "")
        return real(*args, **kwargs)

    monkeypatch.setattr(anthropic._base_client, "start_api_call_span", counting)
    return started


async def answer(fake: FakeAnthropic) -> str:
    provider = AnthropicProvider(FAKE_API_KEY, base_url=fake.url)
    try:
        return (await provider.complete(REQUEST)).text
    finally:
        await provider.aclose()


async def test_without_an_opentelemetry_sdk_no_span_is_built(
        fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch) -> None:
    assert importlib.util.find_spec("opentelemetry.sdk") is None  # as in the image
    started = count_spans(monkeypatch)

    assert await answer(fake_anthropic)
    assert started == []


@pytest.mark.usefixtures("opentelemetry_sdk_installed")
async def test_with_an_opentelemetry_sdk_the_calls_keep_their_spans(
        fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch) -> None:
    started = count_spans(monkeypatch)

    assert await answer(fake_anthropic)
    assert len(started) == 1
