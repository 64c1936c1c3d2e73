"""A reservation must outlive the paid call it covers, whatever the reservation TTL."""

from datetime import timedelta

from app.budget.ledger import Ledger
from app.budget.stores.memory import MemoryStore
from app.clock import ManualClock
from app.config import Budgets


async def test_hold_lasts_the_longer_of_ttl_and_the_call() -> None:
    clock = ManualClock()
    ledger = Ledger(MemoryStore(), clock, reservation_ttl_seconds=10)
    budgets = Budgets(hourly_usd=1, daily_usd=1, monthly_usd=1)
    short = await ledger.reserve(0.1, budgets)
    long = await ledger.reserve(0.1, budgets, hold_seconds=35)
    assert short.expires_at == clock.now() + timedelta(seconds=10)
    assert long.expires_at == clock.now() + timedelta(seconds=35)
    clock.advance(34)
    hourly = next(w for w in await ledger.snapshot(budgets) if w.window == "hourly")
    assert hourly.reserved_usd == 0.1  # the short one lapsed, the long call still holds
