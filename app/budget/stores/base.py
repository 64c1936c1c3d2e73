"""The one interface every ledger store implements (memory, SQLite, Redis).

Stores speak integers and epoch seconds: amounts in nano-USD, times as floats from the
service's Clock. The memory and SQLite stores live on the caller's host and judge expiry by the
caller's clock (so tests can move time). The Redis store is shared by replicas whose clocks
differ: it turns each time into a duration from the caller's `now` and lets the Redis server's
clock alone decide expiry (never EXPIREAT from a caller's clock). Each method is ONE
atomic step against shared state, so any number of processes can use the same store:
`reserve` checks every window and records the reservation in the same step, and it first
forgets reservations that have expired (lazy purge; no background job).

A reservation counts against the periods it was admitted in until it expires (expires_at <= now)
or is settled/released. `settle` is idempotent per reservation id: a second settle of the same id
is ignored, and a settle after expiry still records the spend. `reserve` is idempotent too: an id
already held in a slot is not held (nor counted against itself) again, so a retried reserve is
admitted. Every store keeps a running total of each period's holds, so no operation's cost grows
with the number outstanding (docs/architecture.md, Money).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Slot:
    """One window period as a store sees it."""

    key: str  # e.g. "hourly:2026-11-27T06"
    limit_nano: int  # ignored by settle/release/snapshot
    keep_until: float  # epoch seconds after which the store may drop this period


@dataclass(frozen=True)
class SlotUsage:
    spent_nano: int
    reserved_nano: int


class LedgerStore(Protocol):
    async def reserve(
        self,
        reservation_id: str,
        amount_nano: int,
        slots: Sequence[Slot],
        now: float,
        expires_at: float,
    ) -> int | None:
        """Admit the reservation only if spent + reserved + amount <= limit in every slot.
        Returns None when admitted, else the index of the first slot that would overflow."""
        ...

    async def settle(
        self,
        reservation_id: str,
        reserved_nano: int,
        actual_nano: int,
        slots: Sequence[Slot],
        now: float,
        remember_until: float,
    ) -> bool:
        """Drop the reservation and add `actual_nano` to every slot's spend. Returns False if
        this id was already settled (nothing changes); the id is remembered until
        `remember_until`."""
        ...

    async def release(self, reservation_id: str, reserved_nano: int, slots: Sequence[Slot]) -> None:
        """Drop the reservation without spending anything."""
        ...

    async def snapshot(self, slots: Sequence[Slot], now: float) -> list[SlotUsage]:
        """Spend and live (unexpired) reservations per slot."""
        ...

    async def ping(self) -> None:
        """Raise LedgerUnavailableError unless the store answers."""
        ...

    def wal_bytes(self) -> int:
        """Size of the store's write-ahead log on this host's disk (SQLite); 0 where the
        store has none (memory, Redis). A stat, never a query: read at every scrape."""
        ...

    async def aclose(self) -> None: ...
