"""Ledger behaviour on the in-memory store: windows, expiry, idempotent settle, metrics.

The same contract is run against SQLite and a real Redis in tests/integration/budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from app.budget.ledger import Ledger
from app.budget.reporting import refresh_budget_metrics
from app.budget.stores.base import Slot, SlotUsage
from app.budget.stores.memory import MemoryStore
from app.clock import ManualClock
from app.config import Budgets
from app.errors import BudgetExceededError, LedgerUnavailableError
from app.metrics import Metrics

START = datetime(2026, 11, 27, 6, 30, tzinfo=UTC)
BUDGETS = Budgets(per_request_usd=1.0, hourly_usd=1.0, daily_usd=2.0, monthly_usd=3.0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture
def ledger(clock: ManualClock, metrics: Metrics) -> Ledger:
    return Ledger(MemoryStore(), clock, reservation_ttl_seconds=60, metrics=metrics)


async def spent(ledger: Ledger, window: str = "hourly") -> float:
    return next(s.spent_usd for s in await ledger.snapshot(BUDGETS) if s.window == window)


async def test_hourly_refusal_says_when_the_hour_resets(ledger: Ledger, clock: ManualClock) -> None:
    await ledger.settle(await ledger.reserve(1.0, BUDGETS), 1.0)
    clock.set(datetime(2026, 11, 27, 6, 59, 59, 500_000, tzinfo=UTC))
    with pytest.raises(BudgetExceededError) as info:
        await ledger.reserve(0.01, BUDGETS)
    assert (info.value.window, info.value.retry_after_seconds) == ("hourly", 0.5)
    clock.advance(0.5)
    await ledger.reserve(0.01, BUDGETS)


async def test_daily_refusal_at_half_a_second_to_midnight(
    ledger: Ledger, clock: ManualClock
) -> None:
    for hour in (20, 21):
        clock.set(datetime(2026, 11, 27, hour, tzinfo=UTC))
        await ledger.settle(await ledger.reserve(1.0, BUDGETS), 1.0)
    clock.set(datetime(2026, 11, 27, 23, 59, 59, 500_000, tzinfo=UTC))
    with pytest.raises(BudgetExceededError) as info:
        await ledger.reserve(0.01, BUDGETS)
    assert (info.value.window, info.value.retry_after_seconds) == ("daily", 0.5)
    clock.advance(0.5)
    await ledger.reserve(0.01, BUDGETS)


async def test_monthly_window_holds_until_the_first_of_next_month(
    ledger: Ledger, clock: ManualClock
) -> None:
    for day in (1, 2, 3):
        clock.set(datetime(2028, 2, day, tzinfo=UTC))
        await ledger.settle(await ledger.reserve(1.0, BUDGETS), 1.0)
    clock.set(datetime(2028, 2, 29, 23, 59, 59, 500_000, tzinfo=UTC))  # leap day
    with pytest.raises(BudgetExceededError) as info:
        await ledger.reserve(0.01, BUDGETS)
    assert (info.value.window, info.value.retry_after_seconds) == ("monthly", 0.5)
    clock.advance(0.5)
    states = await ledger.snapshot(BUDGETS)
    assert [s.spent_usd for s in states] == [0.0, 0.0, 0.0]
    assert states[2].resets_at == datetime(2028, 4, 1, tzinfo=UTC)


async def test_snapshot_reports_limit_spent_reserved_remaining(ledger: Ledger) -> None:
    await ledger.settle(await ledger.reserve(0.30, BUDGETS), 0.25)
    await ledger.reserve(0.40, BUDGETS)
    hourly, daily, monthly = await ledger.snapshot(BUDGETS)
    assert (hourly.limit_usd, hourly.spent_usd, hourly.reserved_usd) == (1.0, 0.25, 0.40)
    assert hourly.remaining_usd == 0.35
    assert daily.remaining_usd == 1.35
    assert monthly.remaining_usd == 2.35
    assert hourly.resets_at == datetime(2026, 11, 27, 7, tzinfo=UTC)


async def test_a_call_straddling_the_hour_is_charged_to_the_hour_that_admitted_it(
    ledger: Ledger, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 11, 27, 6, 59, 59, tzinfo=UTC))
    reservation = await ledger.reserve(0.5, BUDGETS)
    clock.advance(2)
    await ledger.settle(reservation, 0.4)
    assert await spent(ledger, "hourly") == 0.0
    assert await spent(ledger, "daily") == 0.4
    assert reservation.windows[0].period == "2026-11-27T06"


async def test_settle_after_a_policy_change_uses_the_admitted_windows(ledger: Ledger) -> None:
    reservation = await ledger.reserve(0.5, BUDGETS)
    assert reservation.limits_usd == (1.0, 2.0, 3.0)
    await ledger.settle(reservation, 0.5)
    tighter = Budgets(hourly_usd=0.2, daily_usd=2.0, monthly_usd=3.0)
    hourly = (await ledger.snapshot(tighter))[0]
    assert (hourly.limit_usd, hourly.spent_usd, hourly.remaining_usd) == (0.2, 0.5, 0.0)


async def test_zero_budget_refuses_every_paid_call(ledger: Ledger) -> None:
    with pytest.raises(BudgetExceededError) as info:
        await ledger.reserve(0.000001, Budgets(hourly_usd=0))
    assert info.value.window == "hourly"


async def test_negative_amounts_are_a_bug(ledger: Ledger) -> None:
    with pytest.raises(ValueError):
        await ledger.reserve(-0.1, BUDGETS)


async def test_outstanding_reservations_gauge(ledger: Ledger, metrics: Metrics) -> None:
    first = await ledger.reserve(0.1, BUDGETS)
    second = await ledger.reserve(0.1, BUDGETS)
    gauge = "ai_budget_reservations_outstanding"
    assert metrics.registry.get_sample_value(gauge) == 2
    await ledger.settle(first, 0.05)
    await ledger.release(second)
    assert metrics.registry.get_sample_value(gauge) == 0


async def test_refresh_budget_metrics_sets_every_window(ledger: Ledger, metrics: Metrics) -> None:
    await ledger.settle(await ledger.reserve(0.5, BUDGETS), 0.25)
    await ledger.reserve(0.125, BUDGETS)
    await refresh_budget_metrics(ledger, BUDGETS, metrics)
    value = metrics.registry.get_sample_value
    assert value("ai_budget_limit_usd", {"window": "daily"}) == 2.0
    assert value("ai_budget_spent_usd", {"window": "hourly"}) == 0.25
    assert value("ai_budget_reserved_usd", {"window": "monthly"}) == 0.125
    assert value("ai_budget_remaining_usd", {"window": "hourly"}) == 0.625


class _GatedSettleStore(MemoryStore):
    """Holds settle until the test opens the gate (a request cancelled mid-settle)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def settle(
        self,
        reservation_id: str,
        reserved_nano: int,
        actual_nano: int,
        slots: Sequence[Slot],
        now: float,
        remember_until: float,
    ) -> bool:
        await self.gate.wait()
        return await super().settle(
            reservation_id, reserved_nano, actual_nano, slots, now, remember_until
        )


async def test_a_cancelled_settle_still_records_the_spend(clock: ManualClock) -> None:
    store = _GatedSettleStore()
    ledger = Ledger(store, clock)
    reservation = await ledger.reserve(0.5, BUDGETS)
    task = asyncio.create_task(ledger.settle(reservation, 0.3))
    await asyncio.sleep(0)  # let settle reach the store
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    store.gate.set()
    for _ in range(5):  # the shielded store call finishes on its own
        await asyncio.sleep(0)
    assert await spent(ledger) == 0.3


class _DownStore(MemoryStore):
    async def snapshot(self, slots: Sequence[Slot], now: float) -> list[SlotUsage]:
        raise LedgerUnavailableError("store is down")


async def test_store_failures_are_counted_by_operation(
    clock: ManualClock, metrics: Metrics
) -> None:
    ledger = Ledger(_DownStore(), clock, metrics=metrics)
    with pytest.raises(LedgerUnavailableError):
        await refresh_budget_metrics(ledger, BUDGETS, metrics)
    errors = metrics.registry.get_sample_value("ai_ledger_errors_total", {"operation": "snapshot"})
    assert errors == 1
