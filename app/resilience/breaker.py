"""An asyncio-friendly circuit breaker with resilience4j semantics, one per upstream model.

Why: a slow or failing LLM API must not hold every request hostage. The breaker watches the rate
of failed and slow calls over a sliding window (window.py) and, past a threshold, OPENs: calls are
refused instantly, so the answer pipeline drops to a lower rung of the degradation ladder without
touching the upstream. After `wait_in_open_seconds` it lets a few trial calls through (HALF_OPEN)
and closes again when they succeed (docs/architecture.md). What it reports (its states, the
snapshot, the listener hooks) is in breaker_types.py; this module is the state machine.

Design notes:
- Time comes from an injected Clock. OPEN -> HALF_OPEN happens lazily when the breaker is next
  asked (acquire, state, snapshot), so there are no timers or background tasks.
- Nothing here awaits, so each method runs atomically on the event loop: no locks needed.
- Every transition bumps a generation counter. A Permit remembers the generation it was issued
  in; a result that arrives after a transition is not counted (it says nothing about the state
  the breaker is in now), so a late call from before OPEN cannot close a HALF_OPEN breaker.
- A 429 with `retry-after` is a failure AND a hold-off: the breaker refuses calls for that model
  until the upstream said it is worth retrying, whatever the state. The hold is capped by
  `max_retry_after_seconds` (one hint of "a year" must not silence a model until the next
  restart), non-finite hints are ignored, and it is visible: `hold_seconds`, `held_until` and
  `hold_reason` in the snapshot, and a per-model gauge (registry.py), because the state can
  stay CLOSED while the hold refuses every call.
"""

from __future__ import annotations

from datetime import timedelta

from app.clock import Clock
from app.config import BreakerPolicy
from app.errors import CircuitOpenError
from app.resilience.breaker_types import (
    BreakerCreationListener,
    BreakerListener,
    BreakerSnapshot,
    BreakerState,
)
from app.resilience.hold import RetryAfterHold
from app.resilience.window import Tallies, same_window_shape, window_for

# Retry hint when HALF_OPEN refuses because its trial calls are all taken: the trials' outcome
# decides the state within about one upstream round trip.
HALF_OPEN_BUSY_RETRY_SECONDS = 1.0


class Permit:
    """Leave to make one call. Call exactly one of success/failure/ignore; repeats are no-ops."""

    __slots__ = ("_breaker", "_done", "_generation")

    def __init__(self, breaker: CircuitBreaker, generation: int) -> None:
        self._breaker = breaker
        self._generation = generation
        self._done = False

    def success(self, duration_seconds: float) -> None:
        """The call worked; it is slow if it took at least `slow_call_duration_seconds`."""
        if not self._done:
            self._done = True
            self._breaker._record(self._generation, False, duration_seconds, None)

    def failure(self, duration_seconds: float, retry_after_seconds: float | None = None) -> None:
        """The upstream is unhealthy (timeout, connection, 5xx, 529, 429 with retry-after)."""
        if not self._done:
            self._done = True
            self._breaker._record(self._generation, True, duration_seconds, retry_after_seconds)

    def ignore(self) -> None:
        """The request was at fault (4xx) or cancelled: not recorded; frees a half-open slot."""
        if not self._done:
            self._done = True
            self._breaker._release(self._generation)


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        policy: BreakerPolicy,
        clock: Clock,
        listener: BreakerListener | None = None,
    ) -> None:
        self.name = name
        self._policy = policy
        self._clock = clock
        self._listener = listener
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._window = window_for(policy)
        self._open_until_seconds = 0.0  # monotonic
        self._hold = RetryAfterHold()
        self._trials_in_flight = 0
        self._trials = Tallies()  # completed trial calls in this HALF_OPEN period
        self._opened_with: tuple[Tallies, bool] = (Tallies(), False)  # tallies, rates known
        self._not_permitted = 0
        if isinstance(listener, BreakerCreationListener):
            listener.on_created(name, self._state)

    @property
    def state(self) -> BreakerState:
        self._advance(self._clock.monotonic())
        return self._state

    @property
    def policy(self) -> BreakerPolicy:
        return self._policy

    def acquire(self) -> Permit:
        """A Permit for one upstream call, or CircuitOpenError (with a retry hint) at once."""
        now = self._clock.monotonic()
        self._advance(now)
        refusal = self._refusal(now)
        if refusal is not None:
            self._not_permitted += 1
            if self._listener is not None:
                self._listener.on_not_permitted(self.name)
            detail, retry_after_seconds = refusal
            raise CircuitOpenError(detail, name=self.name, retry_after_seconds=retry_after_seconds)
        if self._state is BreakerState.HALF_OPEN:
            self._trials_in_flight += 1
        return Permit(self, self._generation)

    def snapshot(self) -> BreakerSnapshot:
        now = self._clock.monotonic()
        self._advance(now)
        hold = self._hold.remaining(now)
        if self._state is BreakerState.CLOSED:
            tallies = self._window.tallies(now)
            rates_known = tallies.calls >= self._policy.effective_minimum_calls
        elif self._state is BreakerState.HALF_OPEN:
            tallies = self._trials
            rates_known = tallies.calls >= self._policy.permitted_in_half_open
        else:
            tallies, rates_known = self._opened_with
        return BreakerSnapshot(
            name=self.name,
            state=self._state.value,
            failure_rate=tallies.failure_rate_percent if rates_known else None,
            slow_call_rate=tallies.slow_call_rate_percent if rates_known else None,
            calls_in_window=tallies.calls,
            failed_calls=tallies.failed,
            slow_calls=tallies.slow,
            retry_in_seconds=self._retry_in_seconds(now),
            half_open_in_flight=self._trials_in_flight,
            not_permitted_calls=self._not_permitted,
            hold_seconds=hold,
            held_until=(
                (self._clock.now() + timedelta(seconds=hold)).isoformat() if hold else None
            ),
            hold_reason=self._hold.reason if hold else None,
        )

    @property
    def hold_seconds(self) -> float:
        """Seconds until the upstream's retry-after hold ends; 0 when there is none."""
        return self._hold.remaining(self._clock.monotonic())

    def reconfigure(self, policy: BreakerPolicy) -> None:
        """Apply a reloaded policy. The state stays; an OPEN breaker keeps its current deadline.
        The window is rebuilt (empty) only if its type or size changed."""
        previous, self._policy = self._policy, policy
        if not same_window_shape(previous, policy):
            self._window = window_for(policy)
        now = self._clock.monotonic()
        self._hold.cap(now, policy.max_retry_after_seconds)
        self._advance(now)
        if self._state is BreakerState.CLOSED:
            self._evaluate_closed(now, None)
        elif self._state is BreakerState.HALF_OPEN:
            self._evaluate_trials(now, None)  # e.g. fewer trials are now enough

    # ------------------------------------------------------------------ internals

    def _refusal(self, now: float) -> tuple[str, float] | None:
        hold_seconds = self._hold.remaining(now)
        if self._state is BreakerState.OPEN:
            wait = max(self._open_until_seconds - now, hold_seconds)
            return f"circuit breaker for {self.name} is open", wait
        if hold_seconds > 0:
            return f"{self.name} asked us to retry later (retry-after)", hold_seconds
        if self._state is BreakerState.HALF_OPEN:
            taken = self._trials_in_flight + self._trials.calls
            if taken >= self._policy.permitted_in_half_open:
                detail = f"circuit breaker for {self.name} is half-open; its trial calls are taken"
                return detail, HALF_OPEN_BUSY_RETRY_SECONDS
        return None

    def _retry_in_seconds(self, now: float) -> float:
        wait = self._hold.remaining(now)
        if self._state is BreakerState.OPEN:
            wait = max(wait, self._open_until_seconds - now)
        return max(wait, 0.0)

    def _record(
        self,
        generation: int,
        failed: bool,
        duration_seconds: float,
        retry_after_seconds: float | None,
    ) -> None:
        now = self._clock.monotonic()
        # The upstream's own word holds whatever state we moved to since the call began.
        retry_after_seconds = (
            self._hold.extend(now, retry_after_seconds, self._policy.max_retry_after_seconds)
            if failed
            else None
        )
        self._advance(now)
        if generation != self._generation:
            return  # issued before a transition: says nothing about the current state
        slow = duration_seconds >= self._policy.slow_call_duration_seconds
        if self._state is BreakerState.CLOSED:
            self._window.record(failed=failed, slow=slow, now_seconds=now)
            self._evaluate_closed(now, retry_after_seconds)
        elif self._state is BreakerState.HALF_OPEN:
            self._trials_in_flight -= 1
            t = self._trials
            self._trials = Tallies(t.calls + 1, t.failed + failed, t.slow + slow)
            self._evaluate_trials(now, retry_after_seconds)

    def _release(self, generation: int) -> None:
        if generation == self._generation and self._state is BreakerState.HALF_OPEN:
            self._trials_in_flight -= 1

    def _evaluate_closed(self, now: float, retry_after_seconds: float | None) -> None:
        p = self._policy
        tallies = self._window.tallies(now)
        if tallies.calls < p.effective_minimum_calls:
            return
        if (
            tallies.failure_rate_percent >= p.failure_rate_threshold
            or tallies.slow_call_rate_percent >= p.slow_call_rate_threshold
        ):
            self._open(now, tallies, True, retry_after_seconds)

    def _evaluate_trials(self, now: float, retry_after_seconds: float | None) -> None:
        p = self._policy
        trials = self._trials
        complete = trials.calls >= p.permitted_in_half_open
        if trials.failed:
            self._open(now, trials, complete, retry_after_seconds)
        elif complete:
            if trials.slow_call_rate_percent >= p.slow_call_rate_threshold:
                self._open(now, trials, True, retry_after_seconds)
            else:
                self._window = window_for(p)
                self._transition(BreakerState.CLOSED)

    def _open(
        self, now: float, tallies: Tallies, rates_known: bool, retry_after_seconds: float | None
    ) -> None:
        wait_seconds = max(self._policy.wait_in_open_seconds, retry_after_seconds or 0.0)
        self._open_until_seconds = now + wait_seconds
        self._opened_with = (tallies, rates_known)
        self._transition(BreakerState.OPEN)

    def _advance(self, now: float) -> None:
        if self._state is BreakerState.OPEN and now >= self._open_until_seconds:
            self._transition(BreakerState.HALF_OPEN)

    def _transition(self, to_state: BreakerState) -> None:
        from_state, self._state = self._state, to_state
        self._generation += 1
        self._trials_in_flight = 0
        self._trials = Tallies()
        if self._listener is not None:
            self._listener.on_transition(self.name, from_state, to_state)
