"""Outbound delivery of alert answers to a Slack-compatible webhook (issue 15).

`deliver(answer)` only queues (a bounded asyncio queue; a full queue dead-letters the answer),
so answering an alert never waits for the webhook. One worker POSTs the queue in order:
`{"text": ..., "blocks": [...]}`, a per-attempt timeout, `Authorization: Bearer <token file>`
when configured. 429, 5xx, timeouts and connection errors are retried with capped exponential
backoff with jitter (a 429/503 `Retry-After` is honoured up to MAX_RETRY_AFTER_SECONDS); any
other status is a rejection, not retried (the receiver will not change its mind). After
`max_attempts` the answer is dead-lettered: counted (ai_alert_deliveries_total{outcome=
"dead_letter"}) and logged without its text. An accepted (fingerprint, startsAt, status) is
delivered once per process: repeats are skipped (a bounded set of recent keys).

The URL is a secret (a Slack URL carries its token in the path): logs show only its origin,
and httpx's own request log line gets the same redaction. Sleep and clock are injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from app.clock import Clock, Sleep, SystemClock
from app.config import Settings
from app.metrics import Metrics

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0
MAX_RETRY_AFTER_SECONDS = 300.0
DEDUPE_KEYS = 10_000
# Slack refuses a section text over 3000 characters; the plain `text` keeps the whole answer.
_BLOCK_TEXT_CHARS = 2900



@dataclass(frozen=True, slots=True)
class AlertAnswer:
    """What the receiver hands to delivery: one alert and the answer it got."""

    alertname: str
    status: str  # "firing" | "resolved"
    labels: Mapping[str, str]
    answer: str
    sources: tuple[str, ...]
    model: str
    degraded_mode: str | None
    fingerprint: str
    starts_at: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.fingerprint, self.starts_at, self.status)


def redact_url(url: str) -> str:
    """Only the origin: Slack-style URLs carry their secret in the path, others in the query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/<redacted>"


def slack_message(a: AlertAnswer) -> dict[str, object]:
    shown = ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()) if k != "alertname")
    title = f"[{a.status.upper()}] {a.alertname}" + (f" ({shown})" if shown else "")
    how = a.model if a.degraded_mode is None else f"{a.model} (degraded: {a.degraded_mode})"
    footer = f"Sources: {', '.join(a.sources) or 'none'} · {how} · fingerprint {a.fingerprint}"
    body = a.answer if len(a.answer) <= _BLOCK_TEXT_CHARS else a.answer[:_BLOCK_TEXT_CHARS] + "…"
    return {
        "text": f"{title}\n{a.answer}\n{footer}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body or "(no answer)"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]},
        ],
    }


class _RedactUrl(logging.Filter):
    """httpx logs every request's full URL (at DEBUG here, app/logs.py); ours is a secret.
    httpx logs the URL as it normalised it (default port dropped, host lower-cased, path
    percent-encoded), so both spellings are replaced."""

    def __init__(self, *spellings: str) -> None:
        super().__init__()
        self._spellings = sorted(set(spellings), key=len, reverse=True)
        self._shown = redact_url(spellings[0])

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(url in message for url in self._spellings):
            for url in self._spellings:
                message = message.replace(url, self._shown)
            record.msg, record.args = message, None
        return True


class Delivery:
    def __init__(
        self,
        url: str,
        metrics: Metrics,
        *,
        token_file: Path | None = None,
        timeout_seconds: float = 5.0,
        max_attempts: int = 5,
        queue_size: int = 1000,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url, self._shown = url, redact_url(url)
        self._metrics = metrics
        self._token_file = token_file
        self._max_attempts = max_attempts
        self._clock = clock or SystemClock()
        self._sleep, self._jitter = sleep, jitter
        self._queue: asyncio.Queue[AlertAnswer] = asyncio.Queue(maxsize=queue_size)
        self._seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        # Never forget a key still waiting in the queue (that would let its repeat in).
        self._seen_max = max(DEDUPE_KEYS, 2 * queue_size)
        # Imported here, when a webhook is configured: most pods never deliver, and httpx (with
        # its CLI's rich and pygments, where installed) is ~45 ms and ~5 MiB of start-up.
        import httpx

        self._transport_error = httpx.TransportError
        self._client = httpx.AsyncClient(timeout=timeout_seconds, transport=transport)
        self._worker: asyncio.Task[None] | None = None
        self._filter = _RedactUrl(url, str(httpx.URL(url)))
        logging.getLogger("httpx").addFilter(self._filter)

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics, **kw: object) -> Delivery | None:
        """None when no webhook is configured. A configured but unreadable URL file fails
        start-up (clear error, path only) rather than dropping every answer silently."""
        if settings.alert_webhook_url is not None:
            url = settings.alert_webhook_url.get_secret_value().strip()
        elif settings.alert_webhook_url_file is not None:
            url = settings.alert_webhook_url_file.read_text(encoding="utf-8").strip()
        else:
            return None
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("the alert webhook URL must be http(s)://… (value not shown)")
        return cls(
            url, metrics, token_file=settings.alert_webhook_token_file,
            timeout_seconds=settings.alert_webhook_timeout_seconds,
            max_attempts=settings.alert_webhook_max_attempts,
            queue_size=settings.alert_webhook_queue_size, **kw,  # type: ignore[arg-type]
        )

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="alert-delivery")

    async def deliver(self, answer: AlertAnswer) -> bool:
        """Queue an answer. True: queued now or earlier (a repeat is not sent twice);
        False: the queue is full and the answer is dead-lettered."""
        if answer.key in self._seen:
            return True
        try:
            self._queue.put_nowait(answer)
        except asyncio.QueueFull:
            self._dead_letter(answer, "queue_full")
            return False
        self._seen[answer.key] = None
        while len(self._seen) > self._seen_max:
            self._seen.popitem(last=False)
        self._metrics.alert_delivery_queue_depth.set(self._queue.qsize())
        return True

    async def join(self) -> None:
        """Wait until every queued answer is delivered or dead-lettered."""
        await self._queue.join()

    async def aclose(self, drain_seconds: float = 0.0) -> None:
        """Give the worker up to `drain_seconds` to empty the queue (a shutdown inside the
        pod's grace period), then stop it; answers still queued are dead-lettered (reason
        shutdown)."""
        if self._worker is not None and drain_seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), drain_seconds)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        while not self._queue.empty():
            self._dead_letter(self._queue.get_nowait(), "shutdown")
            self._queue.task_done()
        if not self._client.is_closed:
            await self._client.aclose()
        logging.getLogger("httpx").removeFilter(self._filter)

    async def _run(self) -> None:
        while True:
            answer = await self._queue.get()
            try:
                await self._send(answer)
            except asyncio.CancelledError:
                self._dead_letter(answer, "shutdown")  # stopped mid-retry: counted, not lost
                raise
            except Exception as exc:  # a bug must not stop every later delivery
                # The type only: an HTTP library's message or traceback may quote the URL.
                log.error("alert delivery failed unexpectedly",
                          extra={"fields": {"error": type(exc).__name__}})
                self._dead_letter(answer, "error")
            finally:
                self._queue.task_done()
                self._metrics.alert_delivery_queue_depth.set(self._queue.qsize())

    async def _send(self, answer: AlertAnswer) -> None:
        body = json.dumps(slack_message(answer)).encode()
        for attempt in range(1, self._max_attempts + 1):
            result, retry_after = await self._attempt(body)
            self._metrics.alert_delivery_attempts.labels(result=result).inc()
            if result == "success":
                self._metrics.alert_deliveries.labels(outcome="delivered").inc()
                return
            if result == "rejected":
                self._dead_letter(answer, "rejected")
                return
            if attempt < self._max_attempts:
                await self._sleep(self._delay(attempt, retry_after))
        self._dead_letter(answer, "exhausted")

    async def _attempt(self, body: bytes) -> tuple[str, float | None]:
        headers = {"Content-Type": "application/json"}
        token = self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        started = self._clock.monotonic()
        try:
            response = await self._client.post(self._url, content=body, headers=headers)
        except self._transport_error as exc:  # timeouts included; the message may hold the URL
            log.warning("alert delivery attempt failed", extra={"fields": {
                "webhook": self._shown, "error": type(exc).__name__}})
            return "retryable", None
        finally:
            self._metrics.alert_delivery_seconds.observe(self._clock.monotonic() - started)
        status = response.status_code
        if 200 <= status < 300:
            return "success", None
        log.warning("alert delivery attempt refused", extra={"fields": {
            "webhook": self._shown, "status": status}})
        if status == 429 or status >= 500:
            return "retryable", self._retry_after(response.headers.get("retry-after"))
        return "rejected", None

    def _token(self) -> str | None:
        if self._token_file is None:
            return None
        try:
            return self._token_file.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            log.warning("alert webhook token file unreadable; sending without it",
                        extra={"fields": {"path": str(self._token_file),
                                          "error": type(exc).__name__}})
            return None

    def _retry_after(self, value: str | None) -> float | None:
        """Seconds from a Retry-After header (delta-seconds or an HTTP date), None if absent
        or unparseable."""
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        return max(0.0, (when - self._clock.now()).total_seconds())

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER_SECONDS)
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
        return ceiling / 2 + self._jitter() * ceiling / 2  # "equal jitter": never 0

    def _dead_letter(self, answer: AlertAnswer, reason: str) -> None:
        self._seen.pop(answer.key, None)  # a later re-send may try again
        self._metrics.alert_deliveries.labels(outcome="dead_letter").inc()
        log.error("alert answer dead-lettered", extra={"fields": {
            "reason": reason, "alertname": answer.alertname, "status": answer.status,
            "fingerprint": answer.fingerprint, "webhook": self._shown}})
