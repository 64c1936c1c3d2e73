"""The in-process rate limit store: this replica's own TATs, on the injected clock.

Used when SRE_AI_REDIS_URL is unset (one replica), and by every replica while its Redis is
failing (see limiter.py). Time is `Clock.monotonic()`: the state is durations ahead of now,
so a wall-clock step (NTP) cannot refill or drain a bucket. Callers are API key names, a set the
keys file bounds; a caller whose buckets are full again is forgotten (a full bucket and no
entry mean the same), so the table holds only the callers of the last minute or so.
"""

from __future__ import annotations

from app.clock import Clock
from app.ratelimit import gcra

# Forget full buckets once the table has this many callers (a sweep is O(callers)).
SWEEP_AT = 1024


class MemoryRateStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._requests: dict[str, float] = {}
        self._tokens: dict[str, float] = {}

    def admit(self, caller: str, rpm: int, tpm: int) -> gcra.Decision:
        now = self._clock.monotonic()
        self._sweep(now)
        admission = gcra.admit(rpm, tpm, self._requests.get(caller, now),
                               self._tokens.get(caller, now), now)
        if admission.request_tat is not None:
            self._requests[caller] = admission.request_tat
        return admission.decision

    def charge(self, caller: str, tpm: int, tokens: int) -> None:
        now = self._clock.monotonic()
        self._tokens[caller] = gcra.charge_tokens(tpm, self._tokens.get(caller, now), now, tokens)

    def _sweep(self, now: float) -> None:
        for table in (self._requests, self._tokens):
            if len(table) >= SWEEP_AT:
                for caller in [c for c, tat in table.items() if tat <= now]:
                    del table[caller]
