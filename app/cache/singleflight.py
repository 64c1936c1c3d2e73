"""Single-flight: concurrent asks of one question pay for one call. The others wait for the
first one's answer, within this process (one asyncio future per key) and across replicas (a
short Redis lease per key, the result published to the waiters: flight_lease.py).

Keys are opaque strings chosen by the caller: the exact-cache key of the question, or the key
of a semantically matching question already in flight. Intended use in the ask pipeline, after
the fresh-cache lookup missed:

    answered: list[Answer] = []

    async def lead() -> bytes | None:             # the paid rungs, run by ONE caller
        answer = await paid_ladder(...)
        answered.append(answer)
        return encode(answer) if reusable(answer) else WaitersOnly(encode(answer))

    outcome = await flight.run(key, lead)         # wait_seconds from policy unless given
    if outcome.led:                               # LEADER or TOOK_OVER: we paid
        return answered[0]
    if outcome.payload is not None:               # coalesced: a hit of kind "coalesced"
        return decode(outcome.payload)
    return await free_rungs(...)                  # the leader failed / we timed out: no pay

`in_flight(key)` (this process) and `in_flight_anywhere(key)` (any replica) let the pipeline
follow a semantically matching question that is in flight instead of leading its own.

Semantics, and the decisions behind them (docs/architecture.md, "One paid call per question in
flight"):
- The leader runs `lead()` in its own task; whatever it returns is given to every waiter. If
  `lead()` raises, the leader re-raises and the waiters get payload None at once (not after
  their timeout): a failing upstream is not asked again by each waiter, they take the ladder.
- A waiter's timeout or cancellation never touches the leader (it awaits a shielded future).
- A leader that is CANCELLED (its client disconnected) hands over: the key is released and one
  waiter takes over (role TOOK_OVER) and runs its own `lead()`; the rest follow it. One client
  going away must not degrade the answer of everyone who asked the same thing.
- Across replicas the first waiter of this process represents it: it claims the Redis lease
  (and leads), or watches the other replica's flight (woken by pub/sub, flight_wakeups.py,
  polling every lease/4 at most as the fallback) and shares what it gets with this process's
  waiters. If the remote leader dies, its lease lapses (no renewals) and a watcher takes over
  within about lease + lease/4. If the watcher gives up (its deadline) or is cancelled, this
  process's other waiters carry on, one of them watching, with their own deadlines.
- Redis absent, failing, or its breaker open: in-process only, never an error for the caller.
  Redis failing while a watcher waits: it takes over in-process (an answer beats a wait for a
  result nobody can deliver); that one call may duplicate the remote leader's.
- Counts and roles are in `Outcome`; metrics are the caller's (app/metrics/ owns them).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from app.cache.flight_lease import (
    Claim,
    FlightLeases,
    LeaseUnavailable,
    poll_interval,
    renew_until_cancelled,
)
from app.cache.flight_wakeups import Wakeups
from app.clock import Sleep
from app.config import CachePolicy


@dataclass(frozen=True)
class WaitersOnly:
    """A result for the waiters of this flight only (an answer the pipeline would not cache:
    truncated, degraded, no answer, ungrounded). Across replicas the result outlives its flight
    by the wait, for an ask that missed the cache just before the leader stored the answer; a
    result like this one is not taken by such a fresh ask, which asks again (flight_lease.py)."""

    payload: bytes


Lead = Callable[[], Awaitable[bytes | WaitersOnly | None]]


def _unwrapped(shared: bytes | WaitersOnly | None) -> bytes | None:
    return shared.payload if isinstance(shared, WaitersOnly) else shared


class Role(StrEnum):
    LEADER = "leader"  # ran lead()
    FOLLOWER = "follower"  # waited for another caller's lead()
    TOOK_OVER = "took_over"  # waited, the leader died or went away, then ran lead() itself


@dataclass(frozen=True)
class Outcome:
    role: Role
    payload: bytes | None = None  # what the leader's lead() returned; None: nothing to share
    timed_out: bool = False  # a follower that stopped waiting (payload None)
    remote: bool = False  # a follower served by another replica's leader

    @property
    def led(self) -> bool:
        """This call ran lead() (and paid, if lead() pays)."""
        return self.role is not Role.FOLLOWER

    @property
    def coalesced(self) -> bool:
        """Served another caller's answer: one paid call saved."""
        return self.role is Role.FOLLOWER and self.payload is not None


@dataclass(frozen=True)
class _Done:
    payload: bytes | None
    remote: bool


# A flight's future resolves to _Done, or to None: "handed over" (the leader was cancelled, or
# this process's watcher gave up waiting): a waiter claims the key afresh.
_Flight = asyncio.Future[_Done | None]


class SingleFlight:
    def __init__(
        self,
        policy: CachePolicy,
        leases: FlightLeases | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """`leases`: the Redis side (None: one replica). `sleep` paces lease renewals and the
        wake-up listener's reconnects (tests inject it). Call aclose() at shutdown."""
        self._leases = leases
        self._sleep = sleep
        self._wakeups = Wakeups(leases, sleep) if leases is not None else None
        self._flights: dict[str, _Flight] = {}
        self.configure(policy)

    def configure(self, policy: CachePolicy) -> None:
        self._policy = policy
        if self._leases is not None:
            self._leases.configure(policy)

    async def aclose(self) -> None:
        """Stop the wake-up listener (the Redis client belongs to whoever created it)."""
        if self._wakeups is not None:
            await self._wakeups.aclose()

    def in_flight(self, key: str) -> bool:
        """A flight of `key` runs in this process (no I/O)."""
        return key in self._flights

    def watching_remote(self, key: str) -> bool:
        """This process waits for another replica's flight of `key` (no I/O)."""
        return self._wakeups is not None and self._wakeups.watched(key)

    async def in_flight_anywhere(self, key: str) -> bool:
        """A flight of `key` runs in this process or holds a lease in Redis (False if Redis
        cannot say)."""
        if key in self._flights:
            return True
        if self._leases is None:
            return False
        try:
            return await self._leases.held(key)
        except LeaseUnavailable:
            return False

    async def run(self, key: str, lead: Lead, *, wait_seconds: float | None = None) -> Outcome:
        """Lead the flight of `key` (run `lead()`), or wait up to `wait_seconds` (default:
        policy) for the flight already running. Re-raises what the leader's own `lead()`
        raises; never raises for Redis."""
        policy = self._policy
        if not policy.single_flight_enabled:
            return Outcome(Role.LEADER, _unwrapped(await lead()))
        wait = policy.single_flight_wait_seconds if wait_seconds is None else wait_seconds
        deadline = asyncio.get_running_loop().time() + wait
        handed_over = False
        while (flight := self._flights.get(key)) is not None:
            try:
                async with asyncio.timeout_at(deadline):
                    done = await asyncio.shield(flight)
            except TimeoutError:
                return Outcome(Role.FOLLOWER, timed_out=True)
            if done is not None:
                return Outcome(Role.FOLLOWER, done.payload, remote=done.remote)
            handed_over = True
        return await self._head(key, lead, deadline, handed_over)

    async def _head(self, key: str, lead: Lead, deadline: float, handed_over: bool) -> Outcome:
        """First in this process: lead, or watch another replica's flight for everyone here."""
        flight: _Flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        done: _Done | None = None  # stays None (hand over) if cancelled or timed out
        try:
            outcome = await self._lead_or_watch(key, lead, deadline, handed_over)
            if not outcome.timed_out:
                done = _Done(outcome.payload, outcome.remote)
            return outcome
        except Exception:
            done = _Done(None, remote=False)  # lead() failed: the waiters take the ladder now
            raise
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]
            flight.set_result(done)

    async def _lead_or_watch(
        self, key: str, lead: Lead, deadline: float, handed_over: bool
    ) -> Outcome:
        role = Role.TOOK_OVER if handed_over else Role.LEADER
        if self._leases is None:
            return await self._lead(key, lead, role, None)
        try:
            claim = await self._leases.claim(key, accept_nothing=False)
            if claim.result is None and claim.token is None:  # another replica leads
                role = Role.TOOK_OVER  # if we end up running lead(), it is a take-over
                claim = await self._watch(key, deadline)
        except LeaseUnavailable:
            return await self._lead(key, lead, role, None)
        if claim.result is not None:
            payload = claim.result[1:] if claim.result[:1] in (b"P", b"W") else None
            return Outcome(Role.FOLLOWER, payload, remote=True)
        if claim.token is None:
            return Outcome(Role.FOLLOWER, timed_out=True)
        return await self._lead(key, lead, role, claim.token)

    async def _watch(self, key: str, deadline: float) -> Claim:
        """Another replica leads: wait for its result, or for its lease to lapse (then the
        lease is ours: Claim.token). An empty Claim: the deadline passed."""
        assert self._leases is not None and self._wakeups is not None
        loop = asyncio.get_running_loop()
        interval = 0.0
        async with self._wakeups.watching(key) as woken:
            while True:
                woken.clear()  # before claiming: a wake-up published after the claim counts
                claim = await self._leases.claim(key, accept_nothing=True)
                left = deadline - loop.time()
                if claim.result is not None or claim.token is not None or left <= 0:
                    return claim
                interval = poll_interval(interval, self._leases.lease_seconds)
                # asyncio.timeout, not wait_for: Python 3.11's wait_for can lose a cancellation
                # that arrives as it times out, and a cancelled watcher must end at once.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(interval, left)):
                        await woken.wait()

    async def _lead(self, key: str, lead: Lead, role: Role, token: str | None) -> Outcome:
        """Run lead(); with a lease (`token`), keep it renewed and publish the result."""
        leases = self._leases
        if token is None or leases is None:
            return Outcome(role, _unwrapped(await lead()))
        renewal = asyncio.create_task(renew_until_cancelled(leases, key, token, self._sleep))
        result: bytes | None = None  # None: abandoned (cancelled), a watcher takes over
        try:
            shared = await lead()
            payload = _unwrapped(shared)
            result = (b"N" if payload is None else
                      (b"W" if isinstance(shared, WaitersOnly) else b"P") + payload)
            return Outcome(role, payload)
        except Exception:
            result = b"N"
            raise
        finally:
            renewal.cancel()
            # Shielded: a second cancellation must not leave the waiters to the lease expiry.
            await asyncio.shield(leases.finish(key, token, result))
