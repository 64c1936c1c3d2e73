"""The spend ledger: reserve before a paid call, settle after (docs/architecture.md).

`reserve` holds the worst case against every calendar window at once, in one atomic store step,
so N replicas x M concurrent requests can never push settled spend past a limit. The windows
are those of every scope that applies: the global ones and, for a caller in a team, the team's
(app/config/teams.py); one step checks and holds them all, in every store. A reservation
lapses after `reservation_ttl_seconds`, so a killed process never holds budget for long.
`settle` records the actual cost against the periods the reservation was admitted in (so a call
that straddles a window boundary or a policy change is still accounted where it was allowed)
and is idempotent. Team spend and team refusals are counted here (ai_team_spend_usd_total,
ai_team_budget_rejections_total), the one place every paid call's money passes. Store failures
surface as LedgerUnavailableError: paid calls fail closed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from app.budget.pricing import nano_to_usd, usd_to_nano
from app.budget.stores.base import LedgerStore, Slot
from app.budget.stores.redis import RedisStore
from app.budget.stores.sqlite import SqliteStore
from app.budget.windows import WindowKey, current_windows
from app.clock import Clock
from app.config import Budgets, Settings
from app.config.teams import GLOBAL_SCOPE, Limits
from app.errors import BudgetExceededError, LedgerUnavailableError
from app.metrics import Metrics
from app.resilience.dependency import DependencyGuard
from app.resilience.redis_dependency import redis_guard as new_redis_guard

T = TypeVar("T")

# How long a settled id is remembered, so a repeated settle is recognised and ignored. It is
# also how late a spooled settle may be replayed without risk: a settle that was recorded
# although its caller heard it fail (an fsync error after the commit, a Redis reply lost) is
# also in the spool, and its replay is ignored only while the id is remembered. Two days was
# shorter than a long weekend's outage or a pod down for days with its spool on the volume;
# eight cost one short row per paid answer of the last eight days (replay.py warns past it).
SETTLED_MEMORY = timedelta(days=8)


@dataclass(frozen=True)
class Reservation:
    """Budget held for one paid call, with the periods and limits it was admitted under;
    `scopes[i]` is the scope ("global" or a team) of `windows[i]`."""

    id: str
    amount_usd: float
    windows: tuple[WindowKey, ...]
    expires_at: datetime
    limits_usd: tuple[float, ...] = ()
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class WindowState:
    window: str
    limit_usd: float
    spent_usd: float
    reserved_usd: float
    remaining_usd: float
    resets_at: datetime
    scope: str = GLOBAL_SCOPE


def as_limits(scopes: Budgets | Limits | Sequence[Limits]) -> tuple[Limits, ...]:
    """Budgets alone are the global scope without break-glass (tests, benches)."""
    if isinstance(scopes, Budgets):
        return (Limits(GLOBAL_SCOPE, scopes.per_request_usd, scopes.window_limits(), False),)
    if isinstance(scopes, Limits):
        return (scopes,)
    return tuple(scopes)


def slot_key(scope: str, window: WindowKey) -> str:
    """The global windows keep their historical keys (`hourly:2026-11-27T06`), so an upgrade
    reads the spend already recorded; a team's are `team:<name>:hourly:...`."""
    if scope == GLOBAL_SCOPE:
        return window.storage_key
    return f"team:{scope}:{window.storage_key}"


def _slots(
    scopes: tuple[str, ...], windows: tuple[WindowKey, ...], limits_nano: tuple[int, ...]
) -> list[Slot]:
    return [
        Slot(slot_key(scope, w), limit, w.keep_until.timestamp())
        for scope, w, limit in zip(scopes, windows, limits_nano, strict=True)
    ]


def _periods(
    scopes: tuple[Limits, ...], now: datetime
) -> tuple[tuple[str, ...], tuple[WindowKey, ...], tuple[float, ...]]:
    names, periods, limits = [], [], []
    for scope in scopes:
        for window in current_windows(now, tuple(scope.windows)):
            names.append(scope.scope)
            periods.append(window)
            limits.append(scope.windows[window.window])
    return tuple(names), tuple(periods), tuple(limits)


class Ledger:
    def __init__(
        self,
        store: LedgerStore,
        clock: Clock,
        reservation_ttl_seconds: float = 120.0,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        if reservation_ttl_seconds <= 0:
            raise ValueError("reservation_ttl_seconds must be positive")
        self.store = store
        self._clock = clock
        self._ttl = timedelta(seconds=reservation_ttl_seconds)
        self._metrics = metrics
        self._outstanding: set[str] = set()

    async def _guard(self, operation: str, step: Awaitable[T]) -> T:
        try:
            return await step
        except LedgerUnavailableError:
            if self._metrics is not None:
                self._metrics.ledger_errors.labels(operation=operation).inc()
            raise

    def _track(self, reservation_id: str, held: bool) -> None:
        if held:
            self._outstanding.add(reservation_id)
        else:
            self._outstanding.discard(reservation_id)
        if self._metrics is not None:
            self._metrics.reservations_outstanding.set(len(self._outstanding))

    async def reserve(
        self,
        amount_usd: float,
        scopes: Budgets | Limits | Sequence[Limits],
        *,
        hold_seconds: float = 0.0,
    ) -> Reservation:
        """Hold `amount_usd` in every window of every scope (global first, then the team's),
        or raise BudgetExceededError naming the scope and window that would go over (the first
        in that order) and the seconds until it resets. The hold lapses after the reservation
        TTL or `hold_seconds` (how long the paid call may run), whichever is longer: a live
        call must never lose its hold to the TTL."""
        now = self._clock.now()
        names, windows, limits = _periods(as_limits(scopes), now)
        limits_nano = tuple(usd_to_nano(limit) for limit in limits)
        amount_nano = usd_to_nano(amount_usd)
        reservation = Reservation(
            id=uuid.uuid4().hex,
            amount_usd=nano_to_usd(amount_nano),
            windows=windows,
            expires_at=now + max(self._ttl, timedelta(seconds=hold_seconds)),
            limits_usd=limits,
            scopes=names,
        )
        step = self.store.reserve(
            reservation.id,
            amount_nano,
            _slots(names, windows, limits_nano),
            now.timestamp(),
            reservation.expires_at.timestamp(),
        )
        overflow = await self._guard("reserve", step)
        if overflow is not None:
            window, scope = windows[overflow], names[overflow]
            if scope != GLOBAL_SCOPE and self._metrics is not None:
                # A global refusal is counted by the caller (ai_budget_rejections_total).
                self._metrics.count_team_rejection(scope, window.window)
            owner = "" if scope == GLOBAL_SCOPE else f"team {scope}'s "
            raise BudgetExceededError(
                f"{owner}{window.window} budget of ${limits[overflow]:.2f} cannot cover "
                f"${reservation.amount_usd:.4f} more; it resets at "
                f"{window.resets_at:%Y-%m-%dT%H:%M}Z",
                window=window.window,
                retry_after_seconds=window.seconds_until_reset(now),
                scope=scope,
            )
        self._track(reservation.id, True)
        return reservation

    async def settle(self, reservation: Reservation, actual_usd: float) -> None:
        """Replace the hold with the actual spend. Safe to repeat; still records the spend if
        the reservation already expired. Shielded: a cancelled request does not lose its spend."""
        now = self._clock.now()
        slots = _slots(_scopes_of(reservation), reservation.windows,
                       tuple(0 for _ in reservation.windows))
        step = self.store.settle(
            reservation.id,
            usd_to_nano(reservation.amount_usd),
            usd_to_nano(actual_usd),
            slots,
            now.timestamp(),
            (now + SETTLED_MEMORY).timestamp(),
        )
        first = await self._guard("settle", asyncio.shield(step))
        self._track(reservation.id, False)
        if first and self._metrics is not None:
            # Counted here, where every settle passes (direct, or replayed from the spool),
            # once per reservation (a repeated settle changes nothing), so no route or service
            # has to remember it. Label bounding: app/metrics/teams.py.
            for team in dict.fromkeys(s for s in _scopes_of(reservation) if s != GLOBAL_SCOPE):
                self._metrics.count_team_spend(team, nano_to_usd(usd_to_nano(actual_usd)))

    async def release(self, reservation: Reservation) -> None:
        """The call failed before costing anything: drop the hold."""
        slots = _slots(_scopes_of(reservation), reservation.windows,
                       tuple(0 for _ in reservation.windows))
        step = self.store.release(reservation.id, usd_to_nano(reservation.amount_usd), slots)
        await self._guard("release", asyncio.shield(step))
        self._track(reservation.id, False)

    async def snapshot(self, scopes: Budgets | Limits | Sequence[Limits]) -> list[WindowState]:
        """The current period of each window of each scope; expired reservations excluded."""
        now = self._clock.now()
        names, windows, limits = _periods(as_limits(scopes), now)
        limits_nano = tuple(usd_to_nano(limit) for limit in limits)
        step = self.store.snapshot(_slots(names, windows, limits_nano), now.timestamp())
        usage = await self._guard("snapshot", step)
        return [
            WindowState(
                window=w.window,
                limit_usd=nano_to_usd(limit),
                spent_usd=nano_to_usd(u.spent_nano),
                reserved_usd=nano_to_usd(u.reserved_nano),
                remaining_usd=nano_to_usd(max(0, limit - u.spent_nano - u.reserved_nano)),
                resets_at=w.resets_at,
                scope=scope,
            )
            for scope, w, limit, u in zip(names, windows, limits_nano, usage, strict=True)
        ]

    async def ping(self) -> None:
        await self.store.ping()

    def wal_bytes(self) -> int:
        return self.store.wal_bytes()

    async def aclose(self) -> None:
        await self.store.aclose()


def _scopes_of(reservation: Reservation) -> tuple[str, ...]:
    return reservation.scopes or tuple(GLOBAL_SCOPE for _ in reservation.windows)


def open_ledger(
    settings: Settings,
    clock: Clock,
    *,
    metrics: Metrics | None = None,
    redis_guard: DependencyGuard | None = None,
) -> Ledger:
    """Redis when SRE_AI_REDIS_URL is set (any number of replicas), else the SQLite file at
    SRE_AI_LEDGER_PATH (single instance). Connects lazily: `await ledger.ping()` to check.
    `redis_guard`: the Redis server's breaker, shared with the answer cache (a new one when
    not given)."""
    store: LedgerStore
    if settings.redis_url:
        guard = redis_guard if redis_guard is not None else new_redis_guard(clock, metrics)
        store = RedisStore(settings.redis_url, guard=guard)
    else:
        settings.ledger_path.parent.mkdir(parents=True, exist_ok=True)
        store = SqliteStore(settings.ledger_path)
    return Ledger(
        store, clock, reservation_ttl_seconds=settings.reservation_ttl_seconds, metrics=metrics
    )
