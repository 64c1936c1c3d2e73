"""In-process ledger store for unit tests and single-process experiments.

Every method runs to completion without awaiting, so on one event loop each is atomic with
respect to other tasks: no lock is needed. Nothing survives the process. Like the other stores,
each period keeps a running total of its holds (here with an expiry heap), so a call's cost does
not grow with the holds outstanding.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.budget.stores.base import Slot, SlotUsage


@dataclass
class _Period:
    """One period's spend and live holds, with their running total and an expiry heap, so
    neither a check nor a purge walks every hold."""

    spent_nano: int = 0
    keep_until: float = 0.0
    reserved_nano: int = 0
    # reservation id -> (amount_nano, expires_at)
    reservations: dict[str, tuple[int, float]] = field(default_factory=dict)
    # (expires_at, id); entries of holds settled, released or re-timed are skipped when popped
    expiries: list[tuple[float, str]] = field(default_factory=list)

    def purge(self, now: float) -> None:
        while self.expiries and self.expiries[0][0] <= now:
            expires_at, rid = heapq.heappop(self.expiries)
            held = self.reservations.get(rid)
            if held is not None and held[1] == expires_at:
                self.drop(rid)

    def hold(self, rid: str, amount_nano: int, expires_at: float) -> None:
        if rid not in self.reservations:
            self.reserved_nano += amount_nano
        else:  # a retried reserve: held once, with the new expiry
            amount_nano = self.reservations[rid][0]
        self.reservations[rid] = (amount_nano, expires_at)
        heapq.heappush(self.expiries, (expires_at, rid))

    def drop(self, rid: str) -> None:
        held = self.reservations.pop(rid, None)
        if held is not None:
            self.reserved_nano -= held[0]


class MemoryStore:
    def __init__(self) -> None:
        self._periods: dict[str, _Period] = {}
        self._settled: dict[str, float] = {}  # reservation id -> remember until
        self._next_prune = 0.0
        self.closed = False

    def _period(self, slot: Slot) -> _Period:
        period = self._periods.setdefault(slot.key, _Period())
        period.keep_until = max(period.keep_until, slot.keep_until)
        return period

    def _forget_old(self, now: float) -> None:
        """Drop closed periods and old settle markers, at most once a minute (it is a scan)."""
        if now < self._next_prune:
            return
        self._next_prune = now + 60
        for key in [k for k, p in self._periods.items() if p.keep_until <= now]:
            del self._periods[key]
        for rid in [r for r, until in self._settled.items() if until <= now]:
            del self._settled[rid]

    async def reserve(
        self,
        reservation_id: str,
        amount_nano: int,
        slots: Sequence[Slot],
        now: float,
        expires_at: float,
    ) -> int | None:
        self._forget_old(now)
        periods = [self._period(slot) for slot in slots]
        for index, (slot, period) in enumerate(zip(slots, periods, strict=True)):
            period.purge(now)
            more = 0 if reservation_id in period.reservations else amount_nano
            if period.spent_nano + period.reserved_nano + more > slot.limit_nano:
                return index
        for period in periods:
            period.hold(reservation_id, amount_nano, expires_at)
        return None

    async def settle(
        self,
        reservation_id: str,
        reserved_nano: int,
        actual_nano: int,
        slots: Sequence[Slot],
        now: float,
        remember_until: float,
    ) -> bool:
        if reservation_id in self._settled:
            return False
        self._settled[reservation_id] = remember_until
        for slot in slots:
            period = self._period(slot)
            period.drop(reservation_id)
            period.spent_nano += actual_nano
        return True

    async def release(self, reservation_id: str, reserved_nano: int, slots: Sequence[Slot]) -> None:
        for slot in slots:
            period = self._periods.get(slot.key)
            if period is not None:
                period.drop(reservation_id)

    async def snapshot(self, slots: Sequence[Slot], now: float) -> list[SlotUsage]:
        usage = []
        for slot in slots:
            period = self._periods.get(slot.key)
            if period is None:
                usage.append(SlotUsage(0, 0))
                continue
            period.purge(now)
            usage.append(SlotUsage(period.spent_nano, period.reserved_nano))
        return usage

    async def ping(self) -> None:
        return None

    def wal_bytes(self) -> int:
        return 0

    async def aclose(self) -> None:
        self.closed = True
