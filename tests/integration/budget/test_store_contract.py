"""The ledger contract, run unchanged against memory, SQLite and a real redis-server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.budget.ledger import Ledger
from app.budget.stores.base import Slot, SlotUsage
from app.clock import ManualClock
from app.config import Budgets
from app.errors import BudgetExceededError
from tests.integration.budget.conftest import TTL_SECONDS, Lapse, LedgerFactory

pytestmark = pytest.mark.integration

BUDGETS = Budgets(per_request_usd=1.0, hourly_usd=1.0, daily_usd=2.0, monthly_usd=3.0)
NANO = 1e-9


async def usage(ledger: Ledger, budgets: Budgets = BUDGETS) -> list[tuple[float, float]]:
    return [(s.spent_usd, s.reserved_usd) for s in await ledger.snapshot(budgets)]


async def test_reserve_then_settle_moves_the_hold_into_spend(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory()
    reservation = await ledger.reserve(0.5, BUDGETS)
    assert await usage(ledger) == [(0.0, 0.5)] * 3
    await ledger.settle(reservation, 0.125)
    assert await usage(ledger) == [(0.125, 0.0)] * 3


async def test_release_drops_the_hold_without_spending(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory()
    await ledger.release(await ledger.reserve(0.5, BUDGETS))
    assert await usage(ledger) == [(0.0, 0.0)] * 3


async def test_exact_fit_is_admitted_and_one_nano_dollar_more_is_refused(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory()
    await ledger.settle(await ledger.reserve(0.4, BUDGETS), 0.4)
    await ledger.reserve(0.35, BUDGETS)
    with pytest.raises(BudgetExceededError):
        await ledger.reserve(0.25 + NANO, BUDGETS)
    await ledger.reserve(0.25, BUDGETS)
    hourly = (await ledger.snapshot(BUDGETS))[0]
    assert hourly.remaining_usd == 0.0


@pytest.mark.parametrize(
    ("budgets", "window"),
    [
        (Budgets(hourly_usd=0.1, daily_usd=0.1, monthly_usd=0.1), "hourly"),
        (Budgets(hourly_usd=5, daily_usd=0.1, monthly_usd=0.1), "daily"),
        (Budgets(hourly_usd=5, daily_usd=5, monthly_usd=0.1), "monthly"),
    ],
)
async def test_refusal_names_the_smallest_overflowing_window(
    ledger_factory: LedgerFactory, clock: ManualClock, budgets: Budgets, window: str
) -> None:
    ledger = ledger_factory()
    with pytest.raises(BudgetExceededError) as info:
        await ledger.reserve(0.2, budgets)
    assert info.value.window == window
    resets = {
        "hourly": datetime(2026, 11, 27, 7, tzinfo=UTC),
        "daily": datetime(2026, 11, 28, tzinfo=UTC),
        "monthly": datetime(2026, 12, 1, tzinfo=UTC),
    }[window]
    assert info.value.retry_after_seconds == (resets - clock.now()).total_seconds()
    assert await usage(ledger, budgets) == [(0.0, 0.0)] * 3


async def test_a_refused_reservation_holds_nothing_in_any_window(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory()
    with pytest.raises(BudgetExceededError):
        await ledger.reserve(2.5, BUDGETS)  # fits monthly, not hourly/daily
    assert await usage(ledger) == [(0.0, 0.0)] * 3


async def test_expired_reservations_stop_counting(
    ledger_factory: LedgerFactory, clock: ManualClock, store_kind: str, lapse: Lapse
) -> None:
    ledger = ledger_factory()
    await ledger.reserve(1.0, BUDGETS)
    with pytest.raises(BudgetExceededError):
        await ledger.reserve(0.1, BUDGETS)
    if store_kind != "redis":  # the boundary, to the millisecond, on a clock the test moves
        clock.advance(TTL_SECONDS - 0.001)
        assert await usage(ledger) == [(0.0, 1.0)] * 3
        clock.advance(0.001)
    else:
        assert await usage(ledger) == [(0.0, 1.0)] * 3
        await lapse()
    assert await usage(ledger) == [(0.0, 0.0)] * 3
    await ledger.reserve(1.0, BUDGETS)


async def test_settle_after_expiry_still_records_the_spend(
    ledger_factory: LedgerFactory, lapse: Lapse
) -> None:
    ledger = ledger_factory()
    reservation = await ledger.reserve(0.5, BUDGETS)
    await lapse()
    assert await usage(ledger) == [(0.0, 0.0)] * 3
    await ledger.settle(reservation, 0.375)
    assert await usage(ledger) == [(0.375, 0.0)] * 3


async def test_settling_twice_counts_once(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory()
    reservation = await ledger.reserve(0.5, BUDGETS)
    await ledger.settle(reservation, 0.25)
    await ledger.settle(reservation, 0.25)
    await ledger_factory().settle(reservation, 0.25)  # even from another replica
    assert await usage(ledger) == [(0.25, 0.0)] * 3


async def test_release_after_settle_keeps_the_spend(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory()
    reservation = await ledger.reserve(0.5, BUDGETS)
    await ledger.settle(reservation, 0.25)
    await ledger.release(reservation)
    assert await usage(ledger) == [(0.25, 0.0)] * 3


async def test_a_restarted_ledger_keeps_spend_and_live_reservations(
    ledger_factory: LedgerFactory, lapse: Lapse
) -> None:
    before = ledger_factory()
    await before.settle(await before.reserve(0.5, BUDGETS), 0.25)
    held = await before.reserve(0.5, BUDGETS)
    await before.aclose()
    after = ledger_factory()
    assert await usage(after) == [(0.25, 0.5)] * 3
    await lapse()  # the dead process's hold lapses
    assert await usage(after) == [(0.25, 0.0)] * 3
    await after.settle(held, 0.5)  # a late settle from before the restart still counts
    assert await usage(after) == [(0.75, 0.0)] * 3


async def test_the_next_hour_starts_empty_and_the_day_remembers(
    ledger_factory: LedgerFactory, clock: ManualClock
) -> None:
    ledger = ledger_factory()
    await ledger.settle(await ledger.reserve(1.0, BUDGETS), 1.0)
    clock.set(datetime(2026, 11, 27, 7, tzinfo=UTC))
    assert await usage(ledger) == [(0.0, 0.0), (1.0, 0.0), (1.0, 0.0)]
    await ledger.settle(await ledger.reserve(1.0, BUDGETS), 1.0)
    clock.set(datetime(2026, 11, 27, 8, tzinfo=UTC))
    with pytest.raises(BudgetExceededError) as info:
        await ledger.reserve(0.01, BUDGETS)
    assert info.value.window == "daily"


async def test_ping(ledger_factory: LedgerFactory) -> None:
    await ledger_factory().ping()


async def test_a_retried_reserve_holds_once_and_is_not_refused_by_its_own_hold(
    ledger_factory: LedgerFactory, clock: ManualClock
) -> None:
    """The Redis client retries a reserve whose reply was lost: the same id arrives twice. The
    second must neither hold the amount again nor be refused because of the first."""
    store = ledger_factory().store
    now = clock.now().timestamp()
    slots = [Slot("hourly:2026-11-27T06", 1_000, now + 86_400)]
    assert await store.reserve("retried", 1_000, slots, now, now + 60) is None
    assert await store.reserve("retried", 1_000, slots, now, now + 60) is None
    assert await store.reserve("other", 1, slots, now, now + 60) == 0
    assert await store.snapshot(slots, now) == [SlotUsage(0, 1_000)]
    await store.release("retried", 1_000, slots)
    await store.release("retried", 1_000, slots)
    assert await store.snapshot(slots, now) == [SlotUsage(0, 0)]
