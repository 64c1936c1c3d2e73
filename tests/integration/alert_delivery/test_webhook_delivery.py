"""Alert answers POSTed to a real local webhook receiver (aiohttp on loopback) by the real
httpx client. Backoff sleeps are injected and recorded: no test waits for a backoff."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from app.alerts.delivery import AlertAnswer, Delivery
from app.clock import ManualClock
from app.config import Settings
from app.logs import JsonFormatter
from app.metrics import Metrics
from tests.fakes.webhook_receiver import SECRET_PATH, SECRET_QUERY, WebhookReceiver

TOKEN = "xoxb-delivery-bearer-SECRET-0123456789"


def _answer(n: int = 0, *, status: str = "firing") -> AlertAnswer:
    return AlertAnswer(
        alertname="AIHighErrorRate", status=status,
        labels={"alertname": "AIHighErrorRate", "namespace": "prod", "severity": "page"},
        answer=f"Roll back the last deploy ({n}).", sources=("ai-high-error-rate",),
        model="claude-haiku", degraded_mode=None, fingerprint=f"fp{n:04d}",
        starts_at="2026-01-01T00:00:00Z",
    )


class Recorder:
    """The injected sleep: records each backoff delay; may run a hook (receiver comes up)."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.on_sleep: Callable[[int], object] | None = None

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.on_sleep is not None:
            result = self.on_sleep(len(self.delays))
            if hasattr(result, "__await__"):
                await result


@pytest_asyncio.fixture
async def hook() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def _count(m: Metrics, name: str, **labels: str) -> float:
    value = m.registry.get_sample_value(name, labels)
    assert value is not None, (name, labels)
    return value


def _delivery(hook: WebhookReceiver, metrics: Metrics, sleep: Recorder, **kw: object) -> Delivery:
    kw.setdefault("jitter", lambda: 0.0)
    kw.setdefault("clock", ManualClock())
    return Delivery(hook.url, metrics, sleep=sleep, **kw)  # type: ignore[arg-type]


async def test_receiver_down_then_up_gets_every_answer_exactly_once(
    hook: WebhookReceiver, metrics: Metrics
) -> None:
    await hook.stop()  # down: connections refused on its port
    sleep = Recorder()
    sleep.on_sleep = lambda n: hook.start() if n == 2 else None
    delivery = _delivery(hook, metrics, sleep, max_attempts=5)
    delivery.start()
    try:
        for n in range(5):
            assert await delivery.deliver(_answer(n))
        assert await delivery.deliver(_answer(0))  # Alertmanager re-sent: not twice
        await delivery.join()
        assert await delivery.deliver(_answer(1))  # after delivery, still not twice
        await delivery.join()
    finally:
        await delivery.aclose()
    fingerprints = [r.body["text"].rsplit("fingerprint ", 1)[1] for r in hook.received]
    assert fingerprints == [f"fp{n:04d}" for n in range(5)]
    assert sleep.delays == [0.5, 1.0]  # two refused attempts, then the receiver is up
    assert _count(metrics, "ai_alert_deliveries_total", outcome="delivered") == 5
    assert _count(metrics, "ai_alert_deliveries_total", outcome="dead_letter") == 0
    assert _count(metrics, "ai_alert_delivery_attempts_total", result="retryable") == 2
    assert _count(metrics, "ai_alert_delivery_attempts_total", result="success") == 5


async def test_a_4xx_is_not_retried_and_the_next_answer_still_goes(
    hook: WebhookReceiver, metrics: Metrics
) -> None:
    hook.reply(404)
    sleep = Recorder()
    delivery = _delivery(hook, metrics, sleep)
    delivery.start()
    try:
        await delivery.deliver(_answer(1))
        await delivery.deliver(_answer(2))
        await delivery.join()
    finally:
        await delivery.aclose()
    assert hook.requests == 2  # one each: the 404 was not tried again
    assert sleep.delays == []
    assert [r.body["text"].endswith("fp0002") for r in hook.received] == [True]
    assert _count(metrics, "ai_alert_delivery_attempts_total", result="rejected") == 1
    assert _count(metrics, "ai_alert_deliveries_total", outcome="dead_letter") == 1
    assert _count(metrics, "ai_alert_deliveries_total", outcome="delivered") == 1


async def test_5xx_and_429_are_retried_with_backoff_and_retry_after(
    hook: WebhookReceiver, metrics: Metrics
) -> None:
    clock = ManualClock()
    in_30s = format_datetime(clock.now() + timedelta(seconds=30), usegmt=True)
    hook.reply(503)
    hook.reply(500)
    hook.reply(429, retry_after="7")
    hook.reply(429, retry_after="100000")  # beyond the cap
    hook.reply(503, retry_after=in_30s)  # an HTTP date, read against the injected clock
    sleep = Recorder()
    delivery = _delivery(hook, metrics, sleep, max_attempts=6, clock=clock)
    delivery.start()
    try:
        await delivery.deliver(_answer())
        await delivery.join()
    finally:
        await delivery.aclose()
    assert sleep.delays == [0.5, 1.0, 7.0, 300.0, 30.0]
    assert len(hook.received) == 1
    assert _count(metrics, "ai_alert_delivery_attempts_total", result="retryable") == 5
    assert _count(metrics, "ai_alert_deliveries_total", outcome="delivered") == 1


async def test_backoff_doubles_to_its_cap_then_the_answer_is_dead_lettered(
    hook: WebhookReceiver, metrics: Metrics
) -> None:
    hook.reply(502, times=10)
    sleep = Recorder()
    delivery = _delivery(hook, metrics, sleep, max_attempts=10, jitter=lambda: 1.0)
    delivery.start()
    try:
        await delivery.deliver(_answer())
        await delivery.join()
    finally:
        await delivery.aclose()
    assert sleep.delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert hook.requests == 10
    assert _count(metrics, "ai_alert_deliveries_total", outcome="dead_letter") == 1
    assert _count(metrics, "ai_alert_deliveries_total", outcome="delivered") == 0


async def test_jitter_spreads_the_delay_within_its_half(
    hook: WebhookReceiver, metrics: Metrics
) -> None:
    hook.reply(500, times=2)
    sleep = Recorder()
    delivery = _delivery(hook, metrics, sleep, jitter=lambda: 0.5)
    delivery.start()
    try:
        await delivery.deliver(_answer())
        await delivery.join()
    finally:
        await delivery.aclose()
    assert sleep.delays == [0.75, 1.5]


async def test_a_hanging_receiver_times_out_and_is_retried(
    hook: WebhookReceiver, metrics: Metrics
) -> None:
    hook.hang()
    sleep = Recorder()
    delivery = _delivery(hook, metrics, sleep, timeout_seconds=0.2)
    delivery.start()
    try:
        await delivery.deliver(_answer())
        await delivery.join()
    finally:
        await delivery.aclose()
    assert len(hook.received) == 1 and hook.requests == 2
    assert _count(metrics, "ai_alert_delivery_attempts_total", result="retryable") == 1


async def test_a_full_queue_dead_letters_and_counts(
    hook: WebhookReceiver, metrics: Metrics
) -> None:
    delivery = _delivery(hook, metrics, Recorder(), queue_size=2)
    try:
        assert await delivery.deliver(_answer(1))
        assert await delivery.deliver(_answer(2))
        assert not await delivery.deliver(_answer(3))  # worker not started: the queue is full
        assert _count(metrics, "ai_alert_deliveries_total", outcome="dead_letter") == 1
        assert _count(metrics, "ai_alert_delivery_queue_depth") == 2
        delivery.start()
        await delivery.join()
        assert await delivery.deliver(_answer(3))  # dropped, not remembered: a re-send goes
        await delivery.join()
    finally:
        await delivery.aclose()
    assert [r.body["text"][-6:] for r in hook.received] == ["fp0001", "fp0002", "fp0003"]
    assert _count(metrics, "ai_alert_deliveries_total", outcome="delivered") == 3
    assert _count(metrics, "ai_alert_delivery_queue_depth") == 0


async def test_shutdown_dead_letters_what_is_still_queued(
    hook: WebhookReceiver, metrics: Metrics
) -> None:
    delivery = _delivery(hook, metrics, Recorder())
    await delivery.deliver(_answer(1))
    await delivery.aclose()
    assert hook.requests == 0
    assert _count(metrics, "ai_alert_deliveries_total", outcome="dead_letter") == 1


async def test_the_message_is_slack_compatible_and_carries_the_bearer_token(
    hook: WebhookReceiver, metrics: Metrics, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    delivery = _delivery(hook, metrics, Recorder(), token_file=token_file)
    delivery.start()
    degraded = dataclasses.replace(_answer(7), degraded_mode="offline")
    try:
        await delivery.deliver(degraded)
        await delivery.join()
        token_file.write_text("rotated-token")  # a rotated Secret is used without a restart
        await delivery.deliver(_answer(8))
        await delivery.join()
    finally:
        await delivery.aclose()
    first, second = hook.received
    assert first.headers["Authorization"] == f"Bearer {TOKEN}"
    assert second.headers["Authorization"] == "Bearer rotated-token"
    body = first.body
    assert body["text"].startswith("[FIRING] AIHighErrorRate (namespace=prod, severity=page)\n")
    assert "Roll back the last deploy (7)." in body["text"]
    assert "Sources: ai-high-error-rate · claude-haiku (degraded: offline)" in body["text"]
    assert [b["type"] for b in body["blocks"]] == ["section", "section", "context"]
    assert body["blocks"][1]["text"]["text"] == "Roll back the last deploy (7)."


async def test_the_url_and_token_never_reach_a_log(
    hook: WebhookReceiver, metrics: Metrics, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for client in ("httpx", "httpx2"):  # the service quiets them below DEBUG (app/logs.py)
        caplog.set_level(logging.DEBUG, logger=client)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    hook.reply(500)
    hook.reply(401)
    sleep = Recorder()
    delivery = _delivery(hook, metrics, sleep, token_file=token_file)
    delivery.start()
    try:
        await delivery.deliver(_answer(1))  # 500, then 401: retried, then dead-lettered
        await delivery.deliver(_answer(2))  # delivered
        await delivery.join()
        await hook.stop()
        await delivery.deliver(_answer(3))  # connection refused until attempts are used up
        await delivery.join()
    finally:
        await delivery.aclose()
    lines = [JsonFormatter().format(r) for r in caplog.records]
    logged = "\n".join(lines)
    assert "dead-lettered" in logged and "HTTP Request" in logged  # the logs we look into
    for secret in (SECRET_PATH, SECRET_QUERY, TOKEN, "s3cr3t"):
        assert secret not in logged
    port = hook.url.split(":")[2].split("/")[0]
    assert f"http://127.0.0.1:{port}/<redacted>" in logged


@pytest.mark.parametrize("url", [
    "https://hooks.example.com:443/services/T0/B0/SECRETPATH",  # httpx drops the port
    "https://Hooks.Example.com/services/T0/B0/SECRETPATH",  # and lower-cases the host
    "https://hooks.example.com/services/T0/B0/SECRET PATH",  # and percent-encodes
])
async def test_the_url_is_redacted_however_httpx_spells_it(
    url: str, metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="httpx")
    delivery = Delivery(url, metrics,
                        transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    delivery.start()
    try:
        await delivery.deliver(_answer(1))
        await delivery.join()
    finally:
        await delivery.aclose()
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "HTTP Request" in logged and "<redacted>" in logged
    assert "SECRET" not in logged


def test_settings_take_the_url_inline_or_from_a_file_never_both(
    tmp_path: Path, metrics: Metrics
) -> None:
    assert Delivery.from_settings(Settings(), metrics) is None
    url_file = tmp_path / "url"
    url_file.write_text("https://hooks.example.com" + SECRET_PATH + "\n")
    with pytest.raises(ValidationError, match="not both"):
        Settings(alert_webhook_url="https://x.example.com/a", alert_webhook_url_file=url_file)
    bad = tmp_path / "bad"
    bad.write_text("ftp://x.example.com" + SECRET_PATH)
    with pytest.raises(ValueError, match="http") as refused:
        Delivery.from_settings(Settings(alert_webhook_url_file=bad), metrics)
    assert SECRET_PATH not in str(refused.value)


async def test_a_url_from_a_mounted_secret_file_is_used(
    hook: WebhookReceiver, metrics: Metrics, tmp_path: Path
) -> None:
    url_file = tmp_path / "url"
    url_file.write_text(hook.url + "\n")
    settings = Settings(alert_webhook_url_file=url_file, alert_webhook_max_attempts=2)
    delivery = Delivery.from_settings(settings, metrics, sleep=Recorder())
    assert delivery is not None
    delivery.start()
    try:
        await delivery.deliver(_answer())
        await delivery.join()
    finally:
        await delivery.aclose()
    assert len(hook.received) == 1


class _BrokenOnce(httpx.AsyncBaseTransport):
    """The real transport, except that the first request raises what no handler expects."""

    def __init__(self) -> None:
        self._real = httpx.AsyncHTTPTransport()
        self.broken = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.broken:
            self.broken = True
            raise RuntimeError(f"unexpected, about {request.url}")
        return await self._real.handle_async_request(request)

    async def aclose(self) -> None:
        await self._real.aclose()


async def test_an_unexpected_error_dead_letters_one_answer_and_the_worker_goes_on(
    hook: WebhookReceiver, metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    transport = _BrokenOnce()
    delivery = _delivery(hook, metrics, Recorder(), transport=transport)
    delivery.start()
    try:
        await delivery.deliver(_answer(1))
        await delivery.deliver(_answer(2))
        # Bounded: with a dead worker the second answer would wait for ever.
        await asyncio.wait_for(delivery.join(), timeout=10)
    finally:
        await delivery.aclose()
    assert transport.broken
    assert [r.body["text"][-6:] for r in hook.received] == ["fp0002"]
    assert _count(metrics, "ai_alert_deliveries_total", outcome="dead_letter") == 1
    assert SECRET_PATH not in "\n".join(JsonFormatter().format(r) for r in caplog.records)


async def test_closing_with_a_drain_delivers_what_is_queued(
    hook: WebhookReceiver, metrics: Metrics
) -> None:
    delivery = _delivery(hook, metrics, Recorder())
    delivery.start()
    for n in range(3):
        await delivery.deliver(_answer(n))
    await delivery.aclose(drain_seconds=10)  # returns as soon as the queue is empty
    assert len(hook.received) == 3
    assert _count(metrics, "ai_alert_deliveries_total", outcome="dead_letter") == 0
