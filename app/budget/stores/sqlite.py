"""SQLite ledger store: the single-instance default (`make run`, SRE_AI_LEDGER_PATH).

Stdlib sqlite3 in WAL mode. Operations run in `BEGIN IMMEDIATE` transactions, which take the
database's write lock up front, so two processes sharing the file still check-and-reserve
atomically. A settle returns only after its commit is fsynced: spend survives kill -9 and power
loss. A reserve, a release and the reads are not fsynced: WAL commits, visible to every process
at once and kept by a kill -9, made durable by the next settle's fsync (WAL order). A power loss
can undo only holds made since the last settle, and a hold never becomes spend: its call died
with the machine, and recorded spend is unchanged either way (issue 14; docs/architecture.md).

Where the SQL runs: on the event loop, on a connection that never waits, while the store's
thread is idle (`sqlite_inline.py`); a settle's fsync then runs on the thread, one for every
settle waiting (`sqlite_sync.py`). Otherwise (the file locked by another process, that
connection failing, the thread busy) on the thread, whose queued operations share one
transaction and one fsync (group commit, `sqlite_batch.py`), none returning before its commit.

Each period's live holds are summed in a running total (`reserved`, changed in the same
transaction as `reservation`), so a reserve costs the same with 0 or 10,000 holds outstanding.
Expired holds are reclaimed through the expiry index, each once (O(1) per hold over time). The
totals are rebuilt from `reservation` whenever the thread's connection opens, which also fills
them in for a file written before they existed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from app.budget.stores.base import Slot, SlotUsage
from app.budget.stores.sqlite_batch import GroupCommit
from app.budget.stores.sqlite_files import open_durable, open_loop_connection
from app.budget.stores.sqlite_inline import LoopConnection, NotNow
from app.budget.stores.sqlite_sync import WalSync, passive_checkpoint, restart_checkpoint
from app.budget.stores.sqlite_tables import (
    ADD_HOLD,
    SCHEMA,
    drop_holds,
    rebuild_totals,
    slot_state,
)
from app.errors import LedgerUnavailableError

T = TypeVar("T")

class SqliteStore:
    def __init__(self, path: Path, *, busy_timeout_seconds: float = 5.0) -> None:
        self.path = path
        self._busy_timeout = busy_timeout_seconds
        self._conn: sqlite3.Connection | None = None
        self._synchronous: str | None = None  # the connection's mode, set before each BEGIN
        # One thread of our own: operations queue here instead of occupying the loop's shared
        # default executor (which also resolves DNS for the HTTP clients) while a writer in
        # another process holds the file lock.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-sqlite")
        self._lock = threading.Lock()  # belt and braces: the connection is never shared
        self._closed = False
        self._batches = GroupCommit(self._executor, self._transaction)
        # The event loop's own connection, opened on the thread, then used only on the loop;
        # what it settles is fsynced on the thread (`sqlite_sync.py`).
        self._loop_conn = LoopConnection(self._connect_inline)
        self._wal = WalSync(Path(f"{path}-wal"), self._executor, self._lock, self._checkpoint,
                            self._restart)

    def _connect(self) -> sqlite3.Connection:
        return open_durable(self.path, SCHEMA, busy_timeout_seconds=self._busy_timeout)

    def _connect_inline(self) -> sqlite3.Connection:
        return open_loop_connection(self.path)

    def _transaction(self, work: Callable[[sqlite3.Connection], T], durable: bool) -> T:
        """Run `work` in one BEGIN IMMEDIATE transaction (on the store's own thread); its
        COMMIT is fsynced when `durable`."""
        with self._lock:
            try:
                fresh = self._conn is None
                if self._conn is None:
                    self._conn = self._connect()
                    self._synchronous = "FULL"  # open_durable's
                if not self._loop_conn.ready:  # (again after the loop gave one up)
                    self._loop_conn.open()
                conn = self._conn
                mode = "FULL" if durable else "NORMAL"
                if mode != self._synchronous:  # outside the transaction, as SQLite wants
                    conn.execute(f"PRAGMA synchronous={mode}")
                    self._synchronous = mode
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if fresh:
                        rebuild_totals(conn)
                    result = work(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.rollback()
                    raise
                return result
            except (sqlite3.Error, OSError) as exc:
                # Start afresh next time (a locked, moved or failing file may come back).
                self._disconnect()
                raise LedgerUnavailableError(f"SQLite ledger {self.path}: {exc}") from exc

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    async def _run(self, work: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """`durable`: the commit is fsynced before this returns (spend, and the default, so a
        new write is safe unless it says otherwise); `durable=False`: a WAL commit that a kill -9
        keeps (holds, reads; see the module docstring)."""
        if self._closed:
            raise LedgerUnavailableError("ledger is closed")
        if self._loop_conn.ready and not self._batches.busy and not self._wal.restarting:
            try:
                result = self._loop_conn.run(work)
            except NotNow:
                pass  # locked or failing: the thread's way, below
            else:
                self._wal.committed()
                if durable:
                    await self._wal.sync()
                return result
        return await asyncio.wrap_future(self._batches.submit(work, durable=durable))

    def _checkpoint(self) -> bool:
        """On the store's thread, its lock held (`sqlite_sync.py`)."""
        return self._conn is not None and passive_checkpoint(self._conn)

    def _restart(self) -> None:
        """On the store's thread, its lock held, no commits on the loop (`sqlite_sync.py`)."""
        if self._conn is not None:
            restart_checkpoint(self._conn, round(self._busy_timeout * 1000))

    @property
    def commits(self) -> int:
        """Transactions committed (bench/tests: operations per commit)."""
        return self._batches.commits

    @property
    def inline_commits(self) -> int:
        """Operations committed on the event loop (`sqlite_inline.py`)."""
        return self._loop_conn.commits

    @property
    def wal_syncs(self) -> int:
        """fsyncs of the WAL for settles committed on the loop (`sqlite_sync.py`)."""
        return self._wal.syncs

    @property
    def wal_checkpoints(self) -> int:
        """Checkpoints of the WAL for the loop's commits (`sqlite_sync.py`)."""
        return self._wal.checkpoints

    @property
    def wal_restarts(self) -> int:
        """RESTART checkpoints tried (`sqlite_sync.py`)."""
        return self._wal.restarts

    def wal_bytes(self) -> int:
        """The WAL file's size (0 without one: the last connection to close deletes it).
        Checkpoints keep it under WAL_SIZE_LIMIT (`sqlite_files.py`) while nothing holds them
        back; it grows while another process keeps a read open on the file
        (`ai_ledger_wal_bytes`, alert AILedgerWALGrowing)."""
        return self._wal.file_bytes()

    @property
    def durable_commits(self) -> int:
        """Of `commits`, those fsynced (synchronous=FULL)."""
        return self._batches.durable_commits

    async def reserve(
        self,
        reservation_id: str,
        amount_nano: int,
        slots: Sequence[Slot],
        now: float,
        expires_at: float,
    ) -> int | None:
        def work(conn: sqlite3.Connection) -> int | None:
            drop_holds(conn, "expires_at <= ?", now)
            conn.execute("DELETE FROM spend WHERE keep_until <= ?", (now,))
            held = []
            for index, slot in enumerate(slots):
                holds, spent, reserved = slot_state(conn, slot.key, reservation_id)
                held.append(holds)
                more = 0 if holds else amount_nano  # a retried reserve: already counted
                if spent + reserved + more > slot.limit_nano:
                    return index
            renew = [(expires_at, s.key, reservation_id)
                     for s, already in zip(slots, held, strict=True) if already]
            new = [s.key for s, already in zip(slots, held, strict=True) if not already]
            if renew:
                conn.executemany(
                    "UPDATE reservation SET expires_at = ? WHERE period = ? AND id = ?", renew)
            conn.executemany("INSERT INTO reservation VALUES (?, ?, ?, ?)",
                             [(reservation_id, key, amount_nano, expires_at) for key in new])
            conn.executemany(ADD_HOLD, [(key, amount_nano) for key in new])
            return None

        return await self._run(work, durable=False)

    async def settle(
        self,
        reservation_id: str,
        reserved_nano: int,
        actual_nano: int,
        slots: Sequence[Slot],
        now: float,
        remember_until: float,
    ) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM settled WHERE remember_until <= ?", (now,))
            seen = conn.execute("SELECT 1 FROM settled WHERE id = ?", (reservation_id,))
            if seen.fetchone() is not None:
                return False
            conn.execute("INSERT INTO settled VALUES (?, ?)", (reservation_id, remember_until))
            drop_holds(conn, "id = ?", reservation_id)
            conn.executemany(
                "INSERT INTO spend VALUES (?, ?, ?) ON CONFLICT (period) DO UPDATE SET "
                "spent_nano = spent_nano + excluded.spent_nano, "
                "keep_until = max(keep_until, excluded.keep_until)",
                [(s.key, actual_nano, s.keep_until) for s in slots],
            )
            return True

        return await self._run(work)

    async def release(self, reservation_id: str, reserved_nano: int, slots: Sequence[Slot]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            drop_holds(conn, "id = ?", reservation_id)

        await self._run(work, durable=False)

    async def snapshot(self, slots: Sequence[Slot], now: float) -> list[SlotUsage]:
        def work(conn: sqlite3.Connection) -> list[SlotUsage]:
            drop_holds(conn, "expires_at <= ?", now)
            return [SlotUsage(*slot_state(conn, s.key, "")[1:]) for s in slots]

        return await self._run(work, durable=False)

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone(), durable=False)

    async def aclose(self) -> None:
        """Refuse new work, let queued work (a settle in flight) finish, then close."""
        if self._closed:
            return
        self._closed = True
        self._loop_conn.close()
        await self._wal.aclose()

        def close() -> None:
            with self._lock:
                self._disconnect()
                self._loop_conn.close()  # one the thread opened meanwhile, if any

        await asyncio.get_running_loop().run_in_executor(self._executor, close)
        self._executor.shutdown(wait=False)
