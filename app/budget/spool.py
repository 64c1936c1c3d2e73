"""The settle spool: spend that could not be written to the ledger, kept on this pod's disk until
it can be (docs/architecture.md, "nothing billed is lost").

A paid call is billed whether or not the ledger answers when it ends. When `Ledger.settle`
raises LedgerUnavailableError, the result (the whole Reservation: id, amount, the window periods
it was admitted in, their limits, and the actual cost) goes here, and a replayer
(app/budget/replay.py) settles it later, against the SAME periods, when the ledger is back.
Replaying twice is harmless: `Ledger.settle` is idempotent per reservation id.

Storage: one small SQLite file (`settle-spool.sqlite3`) in SRE_AI_SPOOL_DIR (default: a `spool`
directory next to the SQLite ledger file, so in the chart it lands on the same writable volume),
WAL with `synchronous=FULL`: `add` returns only once the row is on disk, so a kill -9 right after
loses nothing. It is per pod (never shared): an emptyDir survives container restarts, not the
pod's deletion; mount a persistent volume at the ledger path if that matters.
Blocking calls run on a worker thread, so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from app.budget.ledger import Reservation
from app.budget.stores.sqlite_files import open_durable
from app.budget.windows import WindowKey

T = TypeVar("T")

SPOOL_FILE = "settle-spool.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS unsettled (
    reservation_id TEXT PRIMARY KEY, reservation TEXT NOT NULL, actual_usd REAL NOT NULL,
    estimated INTEGER NOT NULL, spooled_at REAL NOT NULL);
"""


@dataclass(frozen=True)
class SpooledSettle:
    reservation: Reservation
    actual_usd: float
    estimated: bool  # settled at the reserved worst case: the real cost was never known
    spooled_at: float  # epoch seconds


def encode_reservation(r: Reservation) -> str:
    """The Reservation dataclass as JSON (its own fields: the ledger's format is not ours)."""
    return json.dumps({
        "id": r.id,
        "amount_usd": r.amount_usd,
        "windows": [{"window": w.window, "period": w.period, "starts_at": w.starts_at.isoformat(),
                     "resets_at": w.resets_at.isoformat()} for w in r.windows],
        "expires_at": r.expires_at.isoformat(),
        "limits_usd": list(r.limits_usd),
        "scopes": list(r.scopes),
    }, separators=(",", ":"))


def decode_reservation(text: str) -> Reservation:
    d: dict[str, Any] = json.loads(text)
    return Reservation(
        id=str(d["id"]),
        amount_usd=float(d["amount_usd"]),
        windows=tuple(WindowKey(str(w["window"]), str(w["period"]),
                                datetime.fromisoformat(w["starts_at"]),
                                datetime.fromisoformat(w["resets_at"])) for w in d["windows"]),
        expires_at=datetime.fromisoformat(d["expires_at"]),
        limits_usd=tuple(float(x) for x in d["limits_usd"]),
        # Spooled before teams existed: every window was global.
        scopes=tuple(str(x) for x in d.get("scopes", ())),
    )


class SettleSpool:
    """Durable, append-and-delete queue of unsettled results, keyed by reservation id."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / SPOOL_FILE
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_durable(self.path, _SCHEMA)
        return self._conn

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return work(self._connection())

        return await asyncio.to_thread(locked)

    async def add(self, reservation: Reservation, actual_usd: float, *, estimated: bool,
                  now: float) -> None:
        """Durably record one unsettled result. Raises OSError / sqlite3.Error (disk full,
        read-only volume): the caller then has nothing left but the log."""
        row = (reservation.id, encode_reservation(reservation), actual_usd, int(estimated), now)
        await self._run(lambda c: c.execute(
            "INSERT OR REPLACE INTO unsettled VALUES (?, ?, ?, ?, ?)", row))

    def _never_written(self) -> bool:
        """No spool file yet: reads answer "empty" without creating one (the replay loop polls
        every few seconds; a pod that never spooled never touches its disk)."""
        return self._conn is None and not self.path.exists()

    async def pending(self, limit: int = 100) -> list[SpooledSettle]:
        """The oldest `limit` results still to settle."""
        if self._never_written():
            return []
        rows = await self._run(lambda c: c.execute(
            "SELECT reservation, actual_usd, estimated, spooled_at FROM unsettled "
            "ORDER BY spooled_at, reservation_id LIMIT ?", (limit,)).fetchall())
        return [SpooledSettle(decode_reservation(r), float(a), bool(e), float(t))
                for r, a, e, t in rows]

    async def remove(self, reservation_id: str) -> None:
        await self._run(lambda c: c.execute(
            "DELETE FROM unsettled WHERE reservation_id = ?", (reservation_id,)))

    async def depth(self) -> int:
        if self._never_written():
            return 0
        row = await self._run(lambda c: c.execute("SELECT count(*) FROM unsettled").fetchone())
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
