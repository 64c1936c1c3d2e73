"""The settle spool (issue "the ledger misses money that Anthropic bills", bug 2): a settle the
ledger cannot take is kept on disk, survives the process (a fresh spool on the same directory
sees it), and is replayed idempotently once the ledger is back.

A real redis-server ledger that the test stops and restarts (persistent, so the reservation
survives the outage as it would in production), the real SQLite spool file."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry

from app.budget.ledger import Ledger
from app.budget.replay import SpendRecorder
from app.budget.spool import SettleSpool
from app.budget.stores.redis import RedisStore
from app.budget.stores.sqlite import SqliteStore
from app.clock import ManualClock
from app.config import Budgets, parse_policy
from app.metrics import Metrics
from tests.fakes.redis_server import RedisServer

pytestmark = pytest.mark.integration

BUDGETS = Budgets(hourly_usd=1.0, daily_usd=2.0, monthly_usd=3.0)
TEAM_POLICY = parse_policy("""
budgets: {per_request_usd: 1.0, hourly_usd: 3.0, daily_usd: 10.0, monthly_usd: 100.0}
teams:
  payments: {keys: [payments-ci], budgets: {hourly_usd: 1.0, daily_usd: 4.0}}
""")
RESERVED_USD = 0.05
ACTUAL_USD = 0.0123


@pytest.fixture
def clock() -> ManualClock:
    """Near the real time: redis-server keeps its keys by its own clock, so a fixed date would
    rot with the calendar. Ten minutes into this hour, so advancing stays in the hour."""
    return ManualClock(datetime.now(UTC).replace(minute=10, second=0, microsecond=0))


@pytest_asyncio.fixture
async def ledgers(private_redis_server: RedisServer,
                  clock: ManualClock) -> AsyncIterator[Callable[[Metrics], Ledger]]:
    opened: list[Ledger] = []

    def new(metrics: Metrics) -> Ledger:
        store = RedisStore(private_redis_server.url, socket_timeout_seconds=0.25,
                           connect_timeout_seconds=0.25)
        ledger = Ledger(store, clock, reservation_ttl_seconds=60, metrics=metrics)
        opened.append(ledger)
        return ledger

    yield new
    for ledger in opened:
        await ledger.aclose()


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def spent(ledger: Ledger) -> dict[str, float]:
    return {w.window: w.spent_usd for w in await ledger.snapshot(BUDGETS)}


async def test_a_settle_the_ledger_refuses_is_spooled_survives_and_is_replayed_once(
    private_redis_server: RedisServer, ledgers: Callable[[Metrics], Ledger],
    clock: ManualClock, tmp_path: Path,
) -> None:
    spool_dir = tmp_path / "spool"
    before = Metrics(CollectorRegistry())
    ledger = ledgers(before)
    reservation = await ledger.reserve(RESERVED_USD, BUDGETS)
    private_redis_server.stop()  # the ledger goes away while the call runs

    spool = SettleSpool(spool_dir)
    await SpendRecorder(ledger, spool, before, clock).record(reservation, ACTUAL_USD,
                                                            estimated=False)
    assert sample(before, "ai_settle_spool_writes_total", result="spooled") == 1
    assert sample(before, "ai_settle_spool_depth") == 1
    spool.close()  # the process dies here

    # A new process: a fresh spool on the same directory still holds the result.
    after = Metrics(CollectorRegistry())
    spool = SettleSpool(spool_dir)
    [item] = await spool.pending()
    assert (item.reservation, item.actual_usd, item.estimated) == (reservation, ACTUAL_USD,
                                                                  False)
    recorder = SpendRecorder(ledgers(after), spool, after, clock)
    assert await recorder.replay_once() == 0  # the ledger is still down: kept, counted
    assert sample(after, "ai_settle_spool_replays_total", result="failed") == 1
    assert await spool.depth() == 1

    private_redis_server.restart()
    clock.advance(300)  # the reservation expired meanwhile: the spend still lands
    assert await recorder.replay_once() == 1
    assert await spool.depth() == 0
    assert sample(after, "ai_settle_spool_depth") == 0
    assert sample(after, "ai_settle_spool_replays_total", result="settled") == 1
    observer = ledgers(Metrics(CollectorRegistry()))
    assert await spent(observer) == pytest.approx(
        {"hourly": ACTUAL_USD, "daily": ACTUAL_USD, "monthly": ACTUAL_USD})

    # Replaying the same result again (a crash between settle and delete) changes nothing.
    await spool.add(reservation, ACTUAL_USD, estimated=False, now=clock.now().timestamp())
    assert await recorder.replay_once() == 1
    assert await spent(observer) == pytest.approx(
        {"hourly": ACTUAL_USD, "daily": ACTUAL_USD, "monthly": ACTUAL_USD})
    spool.close()


async def test_a_spooled_team_settle_replays_into_the_team_windows(
    private_redis_server: RedisServer, ledgers: Callable[[Metrics], Ledger],
    clock: ManualClock, tmp_path: Path,
) -> None:
    """A team's settle that meets a stopped Redis waits in the spool with its scopes; replayed
    once Redis is back, it lands in the team's windows (not only the global ones) and in the
    team's spend counter, once."""
    metrics = Metrics(CollectorRegistry())
    metrics.set_teams(TEAM_POLICY.teams)  # what the runtime does with each policy applied
    ledger = ledgers(metrics)
    scopes = [s for s in (TEAM_POLICY.scope_limits("global", clock.now()),
                          TEAM_POLICY.scope_limits("payments", clock.now())) if s is not None]
    held = await ledger.reserve(0.5, scopes)
    private_redis_server.stop()

    spool = SettleSpool(tmp_path / "spool")
    recorder = SpendRecorder(ledger, spool, metrics, clock)
    await recorder.record(held, 0.4, estimated=False)
    [item] = await spool.pending()
    assert item.reservation == held  # the team's scopes and limits kept on disk
    assert sample(metrics, "ai_team_spend_usd_total", team="payments") == 0

    private_redis_server.restart()
    assert await recorder.replay_once() == 1
    await spool.add(held, 0.4, estimated=False, now=clock.now().timestamp())
    assert await recorder.replay_once() == 1  # replayed twice: counted once
    spool.close()
    windows = {(w.scope, w.window): w.spent_usd for w in await ledger.snapshot(scopes)}
    assert windows == pytest.approx({
        ("global", "hourly"): 0.4, ("global", "daily"): 0.4, ("global", "monthly"): 0.4,
        ("payments", "hourly"): 0.4, ("payments", "daily"): 0.4})
    assert sample(metrics, "ai_team_spend_usd_total", team="payments") == pytest.approx(0.4)


async def test_a_settle_that_reaches_the_ledger_spools_nothing(
    ledgers: Callable[[Metrics], Ledger], clock: ManualClock, tmp_path: Path,
) -> None:
    metrics = Metrics(CollectorRegistry())
    ledger = ledgers(metrics)
    spool = SettleSpool(tmp_path / "spool")
    reservation = await ledger.reserve(RESERVED_USD, BUDGETS)
    await SpendRecorder(ledger, spool, metrics, clock).record(reservation, ACTUAL_USD,
                                                             estimated=False)
    assert (await spent(ledger))["hourly"] == pytest.approx(ACTUAL_USD)
    assert not (tmp_path / "spool").exists()  # created on first use only
    assert sample(metrics, "ai_settle_spool_writes_total", result="spooled") == 0


class Ticker:
    """The replay loop's injected sleep: an interval passes only when the test says so."""

    def __init__(self) -> None:
        self.ticks: asyncio.Queue[None] = asyncio.Queue()
        self.waiting = asyncio.Event()
        self.intervals: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.intervals.append(seconds)
        self.waiting.set()
        await self.ticks.get()

    async def tick(self) -> None:
        """Let one interval pass and wait until the loop is asleep again."""
        self.waiting.clear()
        self.ticks.put_nowait(None)
        async with asyncio.timeout(10):
            await self.waiting.wait()


async def test_the_background_loop_drains_the_spool_once_the_ledger_is_back(
    private_redis_server: RedisServer, ledgers: Callable[[Metrics], Ledger],
    clock: ManualClock, tmp_path: Path,
) -> None:
    metrics = Metrics(CollectorRegistry())
    ledger = ledgers(metrics)
    spool = SettleSpool(tmp_path / "spool")
    ticker = Ticker()
    recorder = SpendRecorder(ledger, spool, metrics, clock, interval_seconds=7.0,
                             sleep=ticker.sleep)
    reservation = await ledger.reserve(RESERVED_USD, BUDGETS)
    private_redis_server.stop()
    await recorder.record(reservation, ACTUAL_USD, estimated=True)
    loop = asyncio.create_task(recorder.run())
    try:
        async with asyncio.timeout(10):
            await ticker.waiting.wait()
        await ticker.tick()  # still down: nothing settles, nothing is lost
        assert await spool.depth() == 1
        assert sample(metrics, "ai_settle_spool_replays_total", result="failed") == 1
        private_redis_server.restart()
        await ticker.tick()
        assert await spool.depth() == 0 and sample(metrics, "ai_settle_spool_depth") == 0
        assert (await spent(ledger))["hourly"] == pytest.approx(ACTUAL_USD)
        assert ticker.intervals == [7.0, 7.0, 7.0]
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        spool.close()


async def test_replaying_an_empty_spool_never_creates_its_file(
    ledgers: Callable[[Metrics], Ledger], clock: ManualClock, tmp_path: Path,
) -> None:
    """The loop polls every few seconds on every pod: a pod that never spooled leaves its
    disk alone (and a read-only one does not log an error every interval)."""
    metrics = Metrics(CollectorRegistry())
    spool = SettleSpool(tmp_path / "spool")
    recorder = SpendRecorder(ledgers(metrics), spool, metrics, clock)
    assert await recorder.replay_once() == 0
    assert not (tmp_path / "spool").exists()
    assert sample(metrics, "ai_settle_spool_depth") == 0


async def test_a_settle_recorded_but_heard_as_failed_is_not_counted_again_days_later(
    tmp_path: Path,
) -> None:
    """The settle reached the ledger but its caller heard it fail (an fsync error after the
    commit, a Redis reply lost), so it is in the spool too; the ledger stays away for days (or
    the pod, its spool kept on the volume). The replay must still be recognised as done: with
    settled ids remembered two days, this counted the spend twice. SQLite on the test's clock
    (a fixed date: nothing here compares it with a real clock)."""
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    ledger = Ledger(SqliteStore(tmp_path / "ledger.sqlite3"), clock)
    spool = SettleSpool(tmp_path / "spool")
    try:
        reservation = await ledger.reserve(RESERVED_USD, BUDGETS)
        await ledger.settle(reservation, ACTUAL_USD)  # recorded...
        await spool.add(reservation, ACTUAL_USD, estimated=False,  # ...and spooled as failed
                        now=clock.now().timestamp())
        clock.advance(5 * 86400)
        recorder = SpendRecorder(ledger, spool, Metrics(CollectorRegistry()), clock)
        assert await recorder.replay_once() == 1
        assert (await spent(ledger))["monthly"] == pytest.approx(ACTUAL_USD)
    finally:
        spool.close()
        await ledger.aclose()
