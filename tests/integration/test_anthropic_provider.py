"""The real provider, through the real `anthropic` SDK and its aiohttp transport, against the
fake Anthropic server over loopback. No mocks, no sleeps: delays belong to the fake upstream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import anthropic
import pytest
import pytest_asyncio

from app.errors import UpstreamError
from app.llm.anthropic import AnthropicProvider, parse_rate_limits, parse_retry_after
from app.llm.anthropic_message import usage_from
from app.llm.base import CompletionRequest
from tests.fakes import fixtures
from tests.fakes.anthropic_control import fake_anthropic_process
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.fixtures import FAKE_API_KEY

fake_anthropic = fixtures.fake_anthropic

# Not claude-sonnet-4-5-20250929: SDK 2.14 warns it is deprecated (end of life 2026-11-30).
MODEL = "claude-sonnet-4-6"
SYSTEM = (
    "Answer from the runbooks below.\n<runbooks>\n"
    '<runbook id="pod-oomkilled" title="Pod OOMKilled" section="Mitigation">'
    "Raise the memory limit after checking the working set. "
    * 8
    + '</runbook>\n<runbook id="node-disk-pressure" title="Disk" section="Diagnosis">'
    "Check the kubelet's image garbage collection.</runbook>\n</runbooks>"
)
TIMEOUT = 1.0
# The provider's hard deadline is TIMEOUT + its margin; allow scheduling slack on a busy CI box.
GENEROUS_BOUND = TIMEOUT + 2.0


BASE_REQUEST = CompletionRequest(
    model=MODEL,
    system=SYSTEM,
    prompt="pod OOMKilled, what now?",
    max_tokens=512,
    timeout_seconds=TIMEOUT,
)


def ask(prompt: str = BASE_REQUEST.prompt, **overrides: Any) -> CompletionRequest:
    return replace(BASE_REQUEST, prompt=prompt, **overrides)


@pytest_asyncio.fixture
async def provider(fake_anthropic: FakeAnthropic) -> AsyncIterator[AnthropicProvider]:
    p = AnthropicProvider(FAKE_API_KEY, base_url=fake_anthropic.url)
    yield p
    await p.aclose()


async def fail_with(provider: AnthropicProvider, request: CompletionRequest) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        await provider.complete(request)
    assert FAKE_API_KEY not in caught.value.detail
    assert FAKE_API_KEY not in str(caught.value)
    return caught.value


# ------------------------------------------------------------------ success path


async def test_answer_cites_the_runbooks_of_the_context(provider: AnthropicProvider) -> None:
    completion = await provider.complete(ask())

    assert "[runbook: pod-oomkilled]" in completion.text
    assert "[runbook: node-disk-pressure]" in completion.text
    assert completion.model == MODEL
    assert completion.stop_reason == "end_turn"


async def test_system_prompt_is_sent_as_one_cacheable_block(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic
) -> None:
    await provider.complete(ask())

    sent = fake_anthropic.requests[-1]
    assert sent["system"] == [
        {"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}
    ]
    assert sent["messages"] == [{"role": "user", "content": "pod OOMKilled, what now?"}]
    assert sent["timeout"] == str(TIMEOUT)


async def test_usage_maps_input_cache_write_then_cache_read(provider: AnthropicProvider) -> None:
    first = await provider.complete(ask())
    second = await provider.complete(ask("and after that?"))

    system_tokens = -(-len(SYSTEM) // 4)
    assert first.usage.cache_write_5m_tokens == system_tokens
    assert first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens == system_tokens
    assert second.usage.cache_write_tokens == 0
    # input_tokens excludes the cached prefix: only the question is billed at the input price.
    assert first.usage.input_tokens == -(-len("pod OOMKilled, what now?") // 4)
    assert second.usage.input_tokens == -(-len("and after that?") // 4)
    assert 0 < second.usage.output_tokens <= 512


async def test_one_hour_cache_writes_are_reported_apart(fake_anthropic: FakeAnthropic) -> None:
    # The provider asks for the default 5-minute TTL; a 1-hour write is driven through a plain
    # SDK client to prove that the mapping reads the TTL split, not just the total.
    client = anthropic.AsyncAnthropic(
        api_key=FAKE_API_KEY, base_url=fake_anthropic.url, max_retries=0
    )
    try:
        message = await client.messages.create(
            model=MODEL,
            max_tokens=64,
            system=[
                {
                    "type": "text",
                    "text": SYSTEM,
                    "cache_control": {"type": "ephemeral", "ttl": "1h"},
                }
            ],
            messages=[{"role": "user", "content": "hi"}],
        )
    finally:
        await client.close()

    usage = usage_from(message.to_dict(mode="json"))
    assert usage.cache_write_1h_tokens == -(-len(SYSTEM) // 4)
    assert (usage.cache_write_5m_tokens, usage.cache_read_tokens, usage.input_tokens) == (0, 0, 1)


async def test_output_tokens_never_exceed_max_tokens(provider: AnthropicProvider) -> None:
    completion = await provider.complete(ask(max_tokens=5))

    assert completion.usage.output_tokens == 5
    assert completion.stop_reason == "max_tokens"


async def test_rate_limit_headers_are_parsed_and_count_down(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.set_rate_limit("requests", limit=50, remaining=10)

    first = await provider.complete(ask())
    second = await provider.complete(ask())

    assert set(first.rate_limits) == {"requests", "tokens", "input_tokens", "output_tokens"}
    assert first.rate_limits["requests"].limit == 50
    assert first.rate_limits["requests"].remaining == 9
    assert second.rate_limits["requests"].remaining == 8
    tokens_before, tokens_after = first.rate_limits["tokens"], second.rate_limits["tokens"]
    assert tokens_before.remaining is not None and tokens_after.remaining is not None
    assert tokens_after.remaining < tokens_before.remaining


async def test_canned_reply(provider: AnthropicProvider, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.set_reply("Restart it. [runbook: custom]")

    assert (await provider.complete(ask())).text == "Restart it. [runbook: custom]"


# ------------------------------------------------------------------ failures


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, "server_error"),
        (503, "server_error"),
        (529, "overloaded"),
        (400, "bad_request"),
        (404, "bad_request"),
        (401, "auth"),
        (403, "auth"),
    ],
)
async def test_http_errors_map_to_bounded_kinds(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic, status: int, kind: str
) -> None:
    fake_anthropic.fail(status)

    error = await fail_with(provider, ask())

    assert (error.kind, error.status) == (kind, status)
    assert error.counts_as_failure == (status >= 500)
    # Retries are off: the breaker and the ladder decide, never the SDK behind their back.
    assert fake_anthropic.stats["total"] == 1


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("overloaded_error", "overloaded"),
        ("rate_limit_error", "rate_limited"),
        ("api_error", "server_error"),
        ("some_new_error", "server_error"),  # a type we do not know: still the upstream's
    ],
)
async def test_an_error_event_mid_stream_is_the_upstreams_failure_and_maybe_billed(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic, error_type: str, kind: str
) -> None:
    """The API's 200 went out and text was streaming, then an `error` event: not a bad
    request (the SDK raises it with status 200), but the upstream failing while it generated."""
    fake_anthropic.fail(error_after_deltas=2, stream_error=error_type)
    seen: list[str] = []
    with pytest.raises(UpstreamError) as caught:
        await provider.stream(ask(), seen.append)
    error = caught.value
    assert len(seen) == 2
    assert (error.kind, error.maybe_billed, error.counts_as_failure) == (kind, True, True)
    assert error_type in error.detail and FAKE_API_KEY not in error.detail


async def test_a_stream_that_ends_before_its_message_is_a_maybe_billed_break(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic
) -> None:
    """No message_delta (stop reason, final usage) before the body ended: the SDK would hand
    back the partial text with message_start's usage; that is neither an answer nor the bill."""
    fake_anthropic.fail(end_after_deltas=2)
    seen: list[str] = []
    with pytest.raises(UpstreamError) as caught:
        await provider.stream(ask(), seen.append)
    assert len(seen) == 2
    error = caught.value
    assert (error.kind, error.maybe_billed, error.counts_as_failure) == ("connection", True, True)


async def test_rate_limited_carries_retry_after(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.fail(429, retry_after=3)

    error = await fail_with(provider, ask())

    assert (error.kind, error.status, error.retry_after_seconds) == ("rate_limited", 429, 3.0)
    assert error.counts_as_failure
    assert fake_anthropic.stats["total"] == 1


@pytest.mark.parametrize(("header", "expected"), [("inf", None), ("nan", None), (1e9, 1e9)])
async def test_rate_limited_with_an_unusable_or_huge_retry_after(
    provider: AnthropicProvider,
    fake_anthropic: FakeAnthropic,
    header: str | float,
    expected: float | None,
) -> None:
    fake_anthropic.fail(429, retry_after=header)

    error = await fail_with(provider, ask())

    assert (error.kind, error.retry_after_seconds) == ("rate_limited", expected)


async def test_wrong_api_key_is_auth_and_the_key_never_leaks(
    fake_anthropic: FakeAnthropic,
) -> None:
    fake_anthropic.api_key = "sk-ant-the-right-one"
    provider = AnthropicProvider(FAKE_API_KEY, base_url=fake_anthropic.url)
    try:
        error = await fail_with(provider, ask())
    finally:
        await provider.aclose()

    assert (error.kind, error.status) == ("auth", 401)
    assert not error.counts_as_failure


async def test_an_upstream_echoing_the_key_does_not_leak_it(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.fail(400, message=f"malformed request from key {FAKE_API_KEY}")

    error = await fail_with(provider, ask())  # asserts the key is absent

    assert "[redacted]" in error.detail


async def test_a_200_that_is_not_a_message_is_a_server_error(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.fail(garbage=True)

    error = await fail_with(provider, ask())

    assert error.kind == "server_error"
    assert "text/html" in error.detail
    assert error.maybe_billed is False


async def test_the_apis_own_json_cut_short_is_a_maybe_billed_server_error(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic
) -> None:
    """The API answered (its JSON, half of it, then a clean end): it generated and billed the
    answer we cannot read, unlike a proxy's page (above), which stopped on the way."""
    fake_anthropic.fail(truncated=True)

    error = await fail_with(provider, ask())

    assert (error.kind, error.maybe_billed) == ("server_error", True)
    assert fake_anthropic.stats["total"] == 1


async def test_connection_reset_is_a_connection_error(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.fail(reset=True)

    error = await fail_with(provider, ask())

    assert error.kind == "connection"
    assert fake_anthropic.stats["by_outcome"] == {"reset": 1}


async def test_nothing_listening_is_a_connection_error(fake_anthropic: FakeAnthropic) -> None:
    url = fake_anthropic.url
    await fake_anthropic.stop()
    provider = AnthropicProvider(FAKE_API_KEY, base_url=url)
    try:
        error = await fail_with(provider, ask())
    finally:
        await provider.aclose()

    assert error.kind == "connection"


async def test_a_hang_is_a_timeout_within_the_configured_bound(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.fail(hang=True)

    started = time.monotonic()
    error = await fail_with(provider, ask())
    elapsed = time.monotonic() - started

    assert error.kind == "timeout"
    assert TIMEOUT * 0.9 <= elapsed < GENEROUS_BOUND
    assert fake_anthropic.stats["total"] == 1


async def test_a_trickling_reply_is_cut_by_the_hard_deadline(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic
) -> None:
    # A byte every 0.1 s restarts a socket read timeout forever: only the asyncio guard ends it.
    fake_anthropic.fail(trickle=True)

    started = time.monotonic()
    error = await fail_with(provider, ask())
    elapsed = time.monotonic() - started

    assert error.kind == "timeout"
    assert TIMEOUT <= elapsed < GENEROUS_BOUND


async def test_a_failure_does_not_poison_the_next_call(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.fail(529)
    await fail_with(provider, ask())

    assert "[runbook: pod-oomkilled]" in (await provider.complete(ask())).text
    assert fake_anthropic.stats["by_outcome"] == {"529": 1, "ok": 1}


async def test_model_scoped_faults_hit_only_that_model(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.fail(529, model=MODEL, until_cleared=True)
    fallback = "claude-haiku-4-5-20251001"

    for _ in range(3):
        await fail_with(provider, ask())
    assert (await provider.complete(ask(model=fallback))).model == fallback
    fake_anthropic.clear_faults()
    await provider.complete(ask())

    assert fake_anthropic.stats["by_model"] == {MODEL: 4, fallback: 1}


# ------------------------------------------------------------------ concurrency


async def test_slow_calls_run_concurrently_on_one_client(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.fail(delay_seconds=1.0, count=2)

    started = time.monotonic()
    first, second = await asyncio.gather(
        provider.complete(ask(timeout_seconds=5.0)), provider.complete(ask(timeout_seconds=5.0))
    )
    elapsed = time.monotonic() - started

    assert fake_anthropic.stats["max_in_flight"] == 2
    assert fake_anthropic.stats["delayed"] == 2
    assert first.text and second.text
    assert elapsed < 1.9


# ------------------------------------------------------------------ the fake as a process


def test_the_fake_runs_as_a_process_driven_over_http() -> None:
    # What benchmarks and uvicorn-level tests use: another process, controlled over /_fake/*.
    with fake_anthropic_process("--reply", "Drain the node. [runbook: node-disk-pressure]") as (
        url,
        control,
    ):
        control.fail(529)

        async def two_calls() -> tuple[UpstreamError, str]:
            provider = AnthropicProvider(FAKE_API_KEY, base_url=url)
            try:
                error = await fail_with(provider, ask())
                return error, (await provider.complete(ask())).text
            finally:
                await provider.aclose()

        error, text = asyncio.run(two_calls())
        stats = control.stats()

    assert error.kind == "overloaded"
    assert text == "Drain the node. [runbook: node-disk-pressure]"
    assert stats["by_outcome"] == {"529": 1, "ok": 1}


# ------------------------------------------------------------------ header parsing


def test_retry_after_accepts_seconds_milliseconds_and_http_dates() -> None:
    now = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)

    assert parse_retry_after({"retry-after": "7"}, now) == 7.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}, now) == 1.5
    assert parse_retry_after({"retry-after": "Fri, 27 Nov 2026 09:00:30 GMT"}, now) == 30.0
    assert parse_retry_after({"retry-after": "Fri, 27 Nov 2026 08:00:00 GMT"}, now) == 0.0
    assert parse_retry_after({"retry-after": "soon"}, now) is None
    assert parse_retry_after({}, now) is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "inf"}, None),
        ({"retry-after": "-inf"}, None),
        ({"retry-after": "Infinity"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "1e400"}, None),  # overflows to inf
        ({"retry-after": "-5"}, 0.0),
        ({"retry-after": ""}, None),
        ({"retry-after": "   "}, None),
        ({"retry-after": "Fri, 99 Nov 2026 09:00:30 GMT"}, None),
        ({"retry-after": "Fri, 27 Nov 99999 09:00:30 GMT"}, None),
        ({"retry-after": "1e9"}, 1e9),  # huge but finite: the breaker caps it, not the parser
        ({"retry-after-ms": "inf", "retry-after": "4"}, 4.0),
        ({"retry-after-ms": "nan", "retry-after": "4"}, 4.0),
        ({"retry-after-ms": "-1", "retry-after": "4"}, 4.0),
        ({"retry-after-ms": "garbage"}, None),
    ],
)
def test_retry_after_is_finite_or_absent(headers: dict[str, str], expected: float | None) -> None:
    now = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)
    assert parse_retry_after(headers, now) == expected


def test_retry_after_far_future_http_date_is_a_finite_number_of_seconds() -> None:
    now = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)
    seconds = parse_retry_after({"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}, now)
    assert seconds is not None and 2.5e11 < seconds < 2.6e11


def test_rate_limit_kinds_without_headers_are_left_out() -> None:
    readings = parse_rate_limits(
        {"anthropic-ratelimit-output-tokens-remaining": "12", "anthropic-ratelimit-x-limit": "1"}
    )

    assert set(readings) == {"output_tokens"}
    assert (readings["output_tokens"].limit, readings["output_tokens"].remaining) == (None, 12.0)
