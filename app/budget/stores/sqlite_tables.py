"""The SQLite ledger's tables and the statements on them that more than one operation needs.

`spend` holds each period's settled spend; `reservation` each live hold, per period; `reserved`
each period's running total of those holds (changed in the same transaction, so a reserve costs
the same with 0 or 10,000 holds outstanding); `settled` the ids already settled (a settle is
idempotent). The store (`sqlite.py`) runs these inside its transactions.
"""

from __future__ import annotations

import sqlite3
from typing import Literal

SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    period TEXT PRIMARY KEY, spent_nano INTEGER NOT NULL, keep_until REAL NOT NULL);
CREATE INDEX IF NOT EXISTS spend_keep ON spend (keep_until);
CREATE TABLE IF NOT EXISTS reservation (
    id TEXT NOT NULL, period TEXT NOT NULL, amount_nano INTEGER NOT NULL,
    expires_at REAL NOT NULL, PRIMARY KEY (period, id));
CREATE INDEX IF NOT EXISTS reservation_expiry ON reservation (expires_at);
CREATE INDEX IF NOT EXISTS reservation_id ON reservation (id);
CREATE TABLE IF NOT EXISTS reserved (period TEXT PRIMARY KEY, reserved_nano INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS settled (id TEXT PRIMARY KEY, remember_until REAL NOT NULL);
CREATE INDEX IF NOT EXISTS settled_until ON settled (remember_until);
"""


def slot_state(conn: sqlite3.Connection, period: str,
               reservation_id: str) -> tuple[bool, int, int]:
    """Whether this reservation already holds the period, its spend and its live holds: three
    primary-key lookups in one statement (a reserve checks every slot; statements, not the
    lookups, are what a ledger operation spends its time on)."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM reservation WHERE period = ? AND id = ?), "
        "(SELECT spent_nano FROM spend WHERE period = ?), "
        "(SELECT reserved_nano FROM reserved WHERE period = ?)",
        # plain `?` (numbered `?1` with a sequence is deprecated from Python 3.12, an error in 3.14)
        (period, reservation_id, period, period),
    ).fetchone()
    return bool(row[0]), int(row[1] or 0), int(row[2] or 0)


# a hold's amount onto its period's running total
ADD_HOLD = ("INSERT INTO reserved VALUES (?, ?) ON CONFLICT (period) DO UPDATE SET "
            "reserved_nano = reserved_nano + excluded.reserved_nano")


def drop_holds(
    conn: sqlite3.Connection, where: Literal["expires_at <= ?", "id = ?"], value: float | str
) -> None:
    """Delete the holds matching `where` (an indexed condition: expiry or id) and take their
    amounts off their periods' totals; a total that reaches 0 is deleted."""
    amounts: dict[str, int] = {}
    # No GROUP BY: it would make SQLite walk the (period, id) key, every hold, instead of the
    # index of `where`.
    for period, amount in conn.execute(
        f"SELECT period, amount_nano FROM reservation WHERE {where}", (value,)
    ):
        amounts[period] = amounts.get(period, 0) + int(amount)
    if not amounts:
        return
    conn.execute(f"DELETE FROM reservation WHERE {where}", (value,))
    conn.executemany("UPDATE reserved SET reserved_nano = reserved_nano - ? WHERE period = ?",
                     [(amount, period) for period, amount in amounts.items()])
    conn.executemany("DELETE FROM reserved WHERE period = ? AND reserved_nano <= 0",
                     [(period,) for period in amounts])


def rebuild_totals(conn: sqlite3.Connection) -> None:
    """Sum the holds into their totals (on every new connection: O(holds) once, and the way a
    file written before the totals existed gets them)."""
    conn.execute("DELETE FROM reserved")
    conn.execute(
        "INSERT INTO reserved SELECT period, sum(amount_nano) FROM reservation GROUP BY period"
    )
