"""Record spend durably: settle in the ledger, or spool it on this pod's disk and replay it later.

`SpendRecorder.record` is what a paid call uses to write down what it cost. `replay_once` settles
spooled results oldest first and stops at the first LedgerUnavailableError (the ledger is still
down: the rest would fail too); `run` repeats it every `interval_seconds` in the background, and
the runtime calls `replay_once` at start-up, so a result spooled before a crash is settled as soon
as the restarted process reaches the ledger.

Metrics: ai_settle_spool_depth (results waiting), ai_settle_spool_writes_total{result} (spooled |
failed: the disk refused too, and the spend is only in the log), ai_settle_spool_replays_total
{result} (settled | failed).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable

from app.budget.ledger import SETTLED_MEMORY, Ledger, Reservation
from app.budget.spool import SettleSpool
from app.clock import Clock
from app.errors import LedgerUnavailableError
from app.metrics import Metrics

log = logging.getLogger("app.spool")
DEFAULT_REPLAY_INTERVAL_SECONDS = 5.0


class SpendRecorder:
    def __init__(
        self,
        ledger: Ledger,
        spool: SettleSpool,
        metrics: Metrics,
        clock: Clock,
        *,
        interval_seconds: float = DEFAULT_REPLAY_INTERVAL_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._ledger = ledger
        self._spool = spool
        self._metrics = metrics
        self._clock = clock
        self._interval = interval_seconds
        self._sleep = sleep
        self._replaying = asyncio.Lock()

    async def record(self, reservation: Reservation, cost_usd: float, *, estimated: bool) -> None:
        """Settle `reservation` at `cost_usd`; if the ledger is unreachable, spool it. Never
        raises for a store failure: the call it pays for has already happened."""
        try:
            await self._ledger.settle(reservation, cost_usd)
            return
        except LedgerUnavailableError:  # counted by the ledger itself
            pass
        fields = {"cost_usd": cost_usd, "reservation": reservation.id, "estimated": estimated}
        try:
            await self._spool.add(reservation, cost_usd, estimated=estimated,
                                  now=self._clock.now().timestamp())
        except (OSError, sqlite3.Error) as exc:
            self._metrics.settle_spool_writes.labels(result="failed").inc()
            log.error("spend not recorded: ledger unavailable at settle and the spool failed",
                      extra={"fields": {**fields, "error": str(exc)}})
            return
        self._metrics.settle_spool_writes.labels(result="spooled").inc()
        log.warning("ledger unavailable at settle: spend spooled for replay",
                    extra={"fields": fields})
        await self._refresh_depth()

    async def replay_once(self) -> int:
        """Settle what the spool holds, oldest first; returns how many were settled."""
        async with self._replaying:
            settled = 0
            try:
                while batch := await self._spool.pending():
                    for item in batch:
                        try:
                            await self._ledger.settle(item.reservation, item.actual_usd)
                        except LedgerUnavailableError:
                            self._metrics.settle_spool_replays.labels(result="failed").inc()
                            return settled
                        age = self._clock.now().timestamp() - item.spooled_at
                        if age > SETTLED_MEMORY.total_seconds():  # once, when it lands
                            log.warning(
                                "replayed spend spooled longer ago than the ledger remembers "
                                "settled ids: if its first settle was recorded after all, it is "
                                "now counted twice (an over-count, never a loss)",
                                extra={"fields": {"reservation": item.reservation.id,
                                                  "age_days": round(age / 86400, 1)}})
                        await self._spool.remove(item.reservation.id)
                        self._metrics.settle_spool_replays.labels(result="settled").inc()
                        settled += 1
                        log.info("spooled spend settled", extra={"fields": {
                            "reservation": item.reservation.id, "cost_usd": item.actual_usd,
                            "estimated": item.estimated}})
                return settled
            finally:
                await self._refresh_depth()

    async def run(self) -> None:
        """Replay every interval until cancelled; never dies of an error."""
        while True:
            await self._sleep(self._interval)
            try:
                await self.replay_once()
            except Exception:
                log.exception("settle spool replay failed; retrying next interval")

    async def _refresh_depth(self) -> None:
        try:
            self._metrics.settle_spool_depth.set(await self._spool.depth())
        except (OSError, sqlite3.Error):
            log.exception("cannot read the settle spool's depth")
