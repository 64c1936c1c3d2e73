"""Redis down: the ledger fails closed, fast, and recovers by itself when Redis is back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry

from app.budget.ledger import Ledger
from app.budget.stores.redis import RedisStore
from app.clock import ManualClock
from app.config import Budgets
from app.errors import LedgerUnavailableError
from app.metrics import Metrics
from tests.fakes.redis_server import RedisServer, free_port
from tests.integration.budget.server_time import let_server_time_pass

pytestmark = pytest.mark.integration

BUDGETS = Budgets(hourly_usd=1.0, daily_usd=2.0, monthly_usd=3.0)
FAST_FAILURE_SECONDS = 2.0  # generous: CI machines are loaded; the default client would take 5 s+


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def make_ledger(url: str, metrics: Metrics, timeout_seconds: float = 0.25) -> Ledger:
    store = RedisStore(
        url, socket_timeout_seconds=timeout_seconds, connect_timeout_seconds=timeout_seconds
    )
    clock = ManualClock(datetime(2026, 11, 27, 6, 30, tzinfo=UTC))
    return Ledger(store, clock, reservation_ttl_seconds=60, metrics=metrics)


@pytest_asyncio.fixture
async def closed_port_ledger(metrics: Metrics) -> AsyncIterator[Ledger]:
    ledger = make_ledger(f"redis://127.0.0.1:{free_port()}/0", metrics)
    yield ledger
    await ledger.aclose()


async def test_nothing_listening_fails_closed_quickly(
    closed_port_ledger: Ledger, metrics: Metrics
) -> None:
    started = time.monotonic()
    with pytest.raises(LedgerUnavailableError, match="Redis ledger reserve failed"):
        await closed_port_ledger.reserve(0.1, BUDGETS)
    assert time.monotonic() - started < FAST_FAILURE_SECONDS
    with pytest.raises(LedgerUnavailableError):
        await closed_port_ledger.snapshot(BUDGETS)
    with pytest.raises(LedgerUnavailableError):
        await closed_port_ledger.ping()
    errors = metrics.registry.get_sample_value
    assert errors("ai_ledger_errors_total", {"operation": "reserve"}) == 1
    assert errors("ai_ledger_errors_total", {"operation": "snapshot"}) == 1


async def test_recovers_without_a_new_ledger_when_redis_comes_back(
    private_redis_server: RedisServer, metrics: Metrics
) -> None:
    ledger = make_ledger(private_redis_server.url, metrics)
    try:
        held = await ledger.reserve(0.25, BUDGETS)
        await ledger.settle(held, 0.25)
        private_redis_server.stop()

        started = time.monotonic()
        with pytest.raises(LedgerUnavailableError):
            await ledger.reserve(0.1, BUDGETS)
        assert time.monotonic() - started < FAST_FAILURE_SECONDS
        with pytest.raises(LedgerUnavailableError):
            await ledger.ping()

        private_redis_server.restart()  # same port; AOF brings the spend back
        await ledger.ping()
        assert [s.spent_usd for s in await ledger.snapshot(BUDGETS)] == [0.25] * 3
        await ledger.settle(await ledger.reserve(0.5, BUDGETS), 0.5)
        assert [s.spent_usd for s in await ledger.snapshot(BUDGETS)] == [0.75] * 3
    finally:
        await ledger.aclose()


async def test_a_hung_redis_times_out_then_recovers(
    private_redis_server: RedisServer, metrics: Metrics
) -> None:
    clock = ManualClock(datetime(2026, 11, 27, 6, 30, tzinfo=UTC))
    store = RedisStore(
        private_redis_server.url, socket_timeout_seconds=0.2, connect_timeout_seconds=0.2
    )
    ledger = Ledger(store, clock, reservation_ttl_seconds=1, metrics=metrics)
    try:
        await ledger.release(await ledger.reserve(0.1, BUDGETS))  # scripts loaded
        private_redis_server.pause()
        started = time.monotonic()
        with pytest.raises(LedgerUnavailableError):
            await ledger.reserve(0.1, BUDGETS)
        # one socket timeout plus one retry on a fresh connection
        assert time.monotonic() - started < 3.0
        private_redis_server.resume()
        reservation = await ledger.reserve(0.1, BUDGETS)
        await ledger.release(reservation)
        # The timed-out reserve may still run once Redis wakes up: that hold (never more than
        # the amount asked for) is conservative and lapses at its expiry.
        hourly = (await ledger.snapshot(BUDGETS))[0]
        assert hourly.reserved_usd in (0.0, 0.1)
        await let_server_time_pass(private_redis_server.url, 1)  # Redis's clock expires holds
        assert [s.reserved_usd for s in await ledger.snapshot(BUDGETS)] == [0.0] * 3
    finally:
        await ledger.aclose()


async def test_the_error_never_shows_the_redis_password(metrics: Metrics) -> None:
    ledger = make_ledger(f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0", metrics)
    try:
        with pytest.raises(LedgerUnavailableError) as info:
            await ledger.reserve(0.1, BUDGETS)
        assert "s3cret-pw" not in str(info.value)
        assert "s3cret-pw" not in repr(info.value.__cause__)
    finally:
        await ledger.aclose()
