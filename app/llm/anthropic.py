"""The paid provider: Anthropic Claude through the official SDK, async, on aiohttp.

Decisions (docs/architecture.md):
- one `AsyncAnthropic` per provider instance, built once; the app builds one provider per process;
- the SDK's aiohttp transport (`DefaultAioHttpClient`), cheaper per call than httpx;
- the SDK's OpenTelemetry spans only where an OpenTelemetry SDK is installed to record them
  (app/opentelemetry_sdk.py);
- `max_retries=0`: retrying is the circuit breaker's and the degradation ladder's call, not the
  SDK's (hidden retries would multiply cost and latency behind the breaker's back);
- the per-call timeout is the request's, and an `asyncio.timeout` a little longer guards against a
  transport that misses a hang (aiohttp's read timeout restarts on every byte of a slow drip);
- the runbook sections go as citable documents behind one prompt-cache breakpoint, so repeated
  questions over the same runbooks are billed at the cache-read price (anthropic_message.py).
Every failure leaves as `UpstreamError` with a bounded `kind`; details never carry the API key.
A timeout or a dropped connection is `maybe_billed` unless the transport shows the connection was
never made (connect refused, connect timeout, TLS failure): the request may have reached the API,
which bills a request it was processing when the client went away. (A pooled keep-alive
connection reset while the request was being written is counted as maybe billed too: the
over-estimate is the safe side.) So is a 200 whose body is the API's own but unusable (JSON cut
short, a stream ended early or carrying an `error` event); a proxy's page is not
(anthropic_errors.py).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import anthropic

from app.clock import Clock, SystemClock
from app.errors import UpstreamError
from app.llm.anthropic_errors import IN_BAND_KINDS, api_body, kind_for_status, never_connected
from app.llm.anthropic_message import (
    MessageJSON,
    declined,
    message_json,
    request_params,
    text_parts,
    usage_from,
)
from app.llm.anthropic_stream import DeltaSink, StreamBrokenError, read_stream
from app.llm.base import Completion, CompletionRequest, RateLimitReading
from app.opentelemetry_sdk import sdk_installed

RATE_LIMIT_KINDS = ("requests", "tokens", "input-tokens", "output-tokens")
# How much longer than the request's timeout the hard asyncio guard waits for the SDK's own.
DEFAULT_TIMEOUT_MARGIN_SECONDS = 0.5
_MAX_DETAIL_CHARS = 300


class AnthropicProvider:
    """`Provider` backed by the Anthropic Messages API."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout_margin_seconds: float = DEFAULT_TIMEOUT_MARGIN_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("AnthropicProvider needs an API key; use the offline provider without")
        self._api_key = api_key
        self._margin = timeout_margin_seconds
        self._clock = clock or SystemClock()
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            http_client=anthropic.DefaultAioHttpClient(),
            # no span can record without an OpenTelemetry SDK: skip building them (8 % of a call)
            open_telemetry=None if sdk_installed() else False,
        )

    async def complete(self, request: CompletionRequest) -> Completion:
        async def fetch() -> tuple[bytes | MessageJSON, Mapping[str, str]]:
            raw = await self._client.messages.with_raw_response.create(
                model=request.model,
                max_tokens=request.max_tokens,
                timeout=request.timeout_seconds,
                **request_params(request),
            )
            # the body as the API's JSON, not parsed into the SDK's model (anthropic_message.py)
            return await raw.http_response.aread(), raw.headers

        return await self._run(request, fetch)

    async def stream(self, request: CompletionRequest, on_delta: DeltaSink) -> Completion:
        """The same call streamed: each text delta to `on_delta` as Claude writes it, then the
        same Completion as `complete` (usage from the stream's cumulative totals)."""
        async def fetch() -> tuple[bytes | MessageJSON, Mapping[str, str]]:
            message, headers = await read_stream(self._client, request, on_delta)
            return message.to_dict(mode="json"), headers

        return await self._run(request, fetch)

    async def _run(self, request: CompletionRequest,
                   fetch: Callable[[], Awaitable[tuple[bytes | MessageJSON, Mapping[str, str]]]]
                   ) -> Completion:
        try:
            async with asyncio.timeout(request.timeout_seconds + self._margin):
                body, headers = await fetch()
        except TimeoutError as exc:
            raise UpstreamError(
                f"no answer from the Anthropic API within {request.timeout_seconds:g}s",
                kind="timeout", maybe_billed=not never_connected(exc),
            ) from exc
        except StreamBrokenError as exc:
            raise UpstreamError(self._scrub(str(exc)),
                                kind="timeout" if exc.timed_out else "connection",
                                maybe_billed=True) from exc
        except anthropic.APIError as exc:
            raise self._to_upstream_error(exc, request) from exc
        try:
            message = message_json(body, headers)
            parts = text_parts(message)
            return Completion(
                text="".join(part.text for part in parts),
                model=str(message["model"]),
                usage=usage_from(message),
                stop_reason=message.get("stop_reason"),
                rate_limits=parse_rate_limits(headers),
                parts=parts,
                declined=declined(message),
            )
        except (TypeError, AttributeError, ValueError, KeyError) as exc:
            # A 200 that is not a Message: the upstream path is broken, not the request. The
            # API's own body (JSON or its stream, cut short or malformed) says it answered, so
            # it may be billed; anything else (a proxy's HTML page) stopped on the way.
            raise UpstreamError(
                self._scrub(f"unusable Anthropic API response: {exc}"), kind="server_error",
                maybe_billed=api_body(headers),
            ) from exc

    async def aclose(self) -> None:
        await self._client.close()

    # ------------------------------------------------------------------ error mapping

    def _to_upstream_error(
        self, exc: anthropic.APIError, request: CompletionRequest
    ) -> UpstreamError:
        # APITimeoutError is a subclass of APIConnectionError: test it first.
        if isinstance(exc, anthropic.APITimeoutError):
            return UpstreamError(
                self._scrub(f"Anthropic API timed out after {request.timeout_seconds:g}s"),
                kind="timeout", maybe_billed=not never_connected(exc),
            )
        if isinstance(exc, anthropic.APIConnectionError):
            cause = exc.__cause__
            why = f": {type(cause).__name__}" if cause is not None else ""
            return UpstreamError(
                self._scrub(f"cannot reach the Anthropic API{why}"), kind="connection",
                maybe_billed=not never_connected(exc),
            )
        if not isinstance(exc, anthropic.APIStatusError):
            # e.g. APIResponseValidationError: the upstream answered something unusable.
            return UpstreamError(
                self._scrub(f"unusable Anthropic API response: {type(exc).__name__}"),
                kind="server_error",
            )
        status = exc.status_code
        # An `error` event after a stream's 200 (the SDK raises it with that status): the API's
        # overload or failure once generating.
        in_band = 200 <= status < 300
        api_type = exc.type or "error"
        where = "stream error" if in_band else str(status)
        detail = f"Anthropic API {where} {api_type}: {exc.api_message or ''}".rstrip(": ")
        if exc.request_id:
            detail += f" (request-id {exc.request_id})"
        if in_band:  # the upstream's failure (breaker); accepted, so maybe billed, as a cut stream
            return UpstreamError(self._scrub(detail), maybe_billed=True,
                                 kind=IN_BAND_KINDS.get(api_type, "server_error"))
        kind = kind_for_status(status, exc)
        retry_after = (
            parse_retry_after(exc.response.headers, self._clock.now())
            if kind in {"rate_limited", "overloaded"}
            else None
        )
        return UpstreamError(
            self._scrub(detail), kind=kind, status=status, retry_after_seconds=retry_after
        )

    def _scrub(self, text: str) -> str:
        return scrub(text, self._api_key)


def scrub(text: str, api_key: str) -> str:
    """An error detail fit for logs and clients: never the key, and bounded."""
    return text.replace(api_key, "[redacted]")[:_MAX_DETAIL_CHARS]


async def verify_key(api_key: str, *, base_url: str | None = None,
                     timeout_seconds: float = 10.0) -> int:
    """One authenticated call that costs nothing (GET /v1/models, limit 1): does the API accept
    the key? Returns how many models it listed; raises UpstreamError (kind `auth` for a refused
    key). For `sre-ai-platform check --check-key`, never on the serving path."""
    client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0,
                                      timeout=timeout_seconds)
    try:
        page = await client.models.list(limit=1)
        return len(page.data)
    except anthropic.APIStatusError as exc:
        kind = kind_for_status(exc.status_code, exc)
        raise UpstreamError(scrub(f"Anthropic API {exc.status_code}: {exc.message}", api_key),
                            kind=kind, status=exc.status_code) from exc
    except anthropic.APIError as exc:
        raise UpstreamError(scrub(f"cannot reach the Anthropic API: {exc}", api_key),
                            kind="connection") from exc
    finally:
        await client.close()


def parse_rate_limits(headers: Mapping[str, str]) -> dict[str, RateLimitReading]:
    """`anthropic-ratelimit-<kind>-{limit,remaining}` -> {kind_with_underscores: reading}."""
    readings: dict[str, RateLimitReading] = {}
    for kind in RATE_LIMIT_KINDS:
        limit = _number(headers.get(f"anthropic-ratelimit-{kind}-limit"))
        remaining = _number(headers.get(f"anthropic-ratelimit-{kind}-remaining"))
        if limit is not None or remaining is not None:
            readings[kind.replace("-", "_")] = RateLimitReading(limit=limit, remaining=remaining)
    return readings


def parse_retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds to wait: `retry-after-ms`, `retry-after` seconds, or `retry-after` HTTP-date.

    Only a finite number is returned: "inf", "nan", overflowing numbers and garbage are no hint
    at all (None); a negative `retry-after` or a date in the past is 0. How long a hint is
    OBEYED is the breaker's decision (capped by `breaker.max_retry_after_seconds`), not the
    parser's.
    """
    millis = _finite(headers.get("retry-after-ms"))
    if millis is not None and millis >= 0:
        return millis / 1000.0
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _finite(value)
    if seconds is not None:
        return max(seconds, 0.0)
    if _number(value) is not None:
        return None  # a number, but not a finite one
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def _finite(value: str | None) -> float | None:
    number = _number(value)
    return number if number is not None and math.isfinite(number) else None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None
