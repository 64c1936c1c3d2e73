"""One paid call per question in flight (single-flight, app/cache/singleflight.py).

When the same question (or one the semantic tier matches to a question in flight) arrives while
another caller is already answering it, in this replica or another one, it waits for that
answer instead of paying for its own. The leader runs the ladder and publishes its answer,
whatever rung produced it; waiters serve it as cached, at $0, counted as `coalesced`, with
what the leader paid counted as saved. A waiter whose leader failed, or that waited
`cache.single_flight_wait_seconds`, takes the ladder's free rungs (cached, stale, runbook
excerpts): none of them pays. Only an answer the cache would keep is also given to an ask that
arrives just after the flight (across replicas the result outlives the flight by the wait, for
an ask that missed the cache before the leader stored it): a truncated, degraded, ungrounded or
no-answer one is for the flight's waiters alone, so a later ask is answered afresh, paid from
its own team's budget.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from app.cache import SingleFlight, WaitersOnly
from app.errors import DomainError, ServiceUnavailableError
from app.metrics import Metrics
from app.services.answer_types import Answer, decode_coalesced, encode_answer

log = logging.getLogger("app.answer")


def reusable(answer: Answer) -> bool:
    """What the answer cache keeps (AnswerService._ask_model stores only these): an answer a
    later ask of the same question may be given too."""
    return not (answer.truncated or answer.no_answer or answer.degraded is not None
                or answer.grounded is False)


class CoalescedWaitError(ServiceUnavailableError):
    """A waiter got no answer from the question in flight (its leader failed, or the wait
    ran out), and no free rung could answer either."""

    code = "coalesced_wait"


class Coalescer:
    def __init__(self, flight: SingleFlight, metrics: Metrics) -> None:
        self._flight = flight
        self._metrics = metrics

    async def in_flight(self, key: str) -> bool:
        return await self._flight.in_flight_anywhere(key)

    async def answer(
        self, key: str, ladder: Callable[[], Awaitable[Answer]],
        free_rungs: Callable[[DomainError], Awaitable[Answer]],
    ) -> Answer:
        led: list[Answer] = []

        async def lead() -> bytes | WaitersOnly:
            self._metrics.cache_lookups.labels(outcome="miss").inc()
            answer = await ladder()
            led.append(answer)
            payload = encode_answer(answer)
            return payload if reusable(answer) else WaitersOnly(payload)

        outcome = await self._flight.run(key, lead)
        if led:
            return led[0]
        if outcome.payload is not None:
            try:
                answer, cost = decode_coalesced(outcome.payload)
            except ValueError as exc:  # another version's payload: not worth an error
                log.warning("unreadable coalesced answer", extra={"fields": {"error": str(exc)}})
            else:
                self._metrics.cache_lookups.labels(outcome="coalesced").inc()
                self._metrics.cache_saved_usd.labels(kind="coalesced").inc(cost)
                return answer
        self._metrics.cache_lookups.labels(outcome="miss").inc()
        why = ("stopped waiting for the same question in flight" if outcome.timed_out
               else "the same question in flight got no answer")
        return await free_rungs(CoalescedWaitError(why, retry_after_seconds=5.0))
