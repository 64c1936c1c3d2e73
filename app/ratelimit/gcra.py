"""GCRA (the generic cell rate algorithm) for one caller's two limits, as pure arithmetic.

The in-process store runs these functions; the Redis script (redis_scripts.py) is the same
arithmetic in Lua. Each limit's whole state is ONE number per caller, its TAT (theoretical
arrival time): the moment the caller's bucket is full again. A limit of N per minute spends
`60 / N` seconds of TAT per unit, and the bucket holds a minute's worth (burst = N):

- requests: admit when `max(TAT, now) + 60/N - now <= 60`, then TAT moves on by 60/N. So N
  requests may come at once, then one every 60/N seconds; in any interval of t seconds at most
  `N + N * t / 60` are admitted. Retry-After of a refusal: the exact wait until one fits.
- tokens: known only after the call. A request is admitted while the bucket holds at least one
  token (`TAT - now <= 60 - 60/N`), and the call's actual tokens are charged when it ends
  (`charge_tokens`): the bucket may go into debt (TAT more than a minute ahead), and the debt
  delays the caller's next requests until it is paid back at N tokens per minute. A cache hit
  or a refused request charges nothing.

Headers: `remaining` is what could be admitted now (whole requests / tokens), `reset` the
seconds until the bucket is full again (TAT - now).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

PERIOD_SECONDS = 60.0
# Float slack: N requests at one instant must all fit even though N additions of 60/N to a TAT
# near the Unix time (Redis TIME, ~1.8e9 s, a double's step there is ~2.4e-7 s) do not sum to
# exactly 60. 0.1 ms covers bursts of several hundred at one instant and lets nothing in more
# than 0.1 ms early (at most one extra request even at the largest allowed limit).
EPSILON_SECONDS = 1e-4

LimitKind = Literal["requests", "tokens"]


@dataclass(frozen=True)
class Quota:
    """One limit as the headers show it, after the decision."""

    limit: int
    remaining: int
    reset_seconds: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    refused_by: LimitKind | None  # the limit that refused (the longer wait when both did)
    retry_after_seconds: float  # 0 when allowed
    requests: Quota | None  # None: no such limit for this caller
    tokens: Quota | None


@dataclass(frozen=True)
class Admission:
    """The decision and the new request TAT to store (None: nothing to store)."""

    decision: Decision
    request_tat: float | None


def interval(per_minute: int) -> float:
    return PERIOD_SECONDS / per_minute


def _quota(limit: int, tat: float, now: float) -> Quota:
    ahead = max(tat - now, 0.0)
    free = max(PERIOD_SECONDS - ahead, 0.0)
    # The 1e-6 of a unit keeps 2.9999999 (float) from showing as 2; never above the limit.
    return Quota(limit, min(limit, math.floor(free / interval(limit) + 1e-6)), ahead)


def admit(rpm: int, tpm: int, request_tat: float, token_tat: float, now: float) -> Admission:
    """Decide one request of a caller whose limits are `rpm`/`tpm` (0: unlimited) and whose
    stored TATs are given (anything <= now when the caller has none)."""
    waits: dict[LimitKind, float] = {}
    new_request_tat = None
    if rpm:
        new_request_tat = max(request_tat, now) + interval(rpm)
        over = new_request_tat - now - PERIOD_SECONDS
        if over > EPSILON_SECONDS:
            waits["requests"] = over
    if tpm:
        over = token_tat - now - (PERIOD_SECONDS - interval(tpm))
        if over > EPSILON_SECONDS:
            waits["tokens"] = over
    if waits:
        kind = max(waits, key=lambda k: waits[k])
        decision = Decision(
            False, kind, waits[kind],
            _quota(rpm, request_tat, now) if rpm else None,
            _quota(tpm, token_tat, now) if tpm else None)
        return Admission(decision, None)
    decision = Decision(
        True, None, 0.0,
        _quota(rpm, new_request_tat, now) if new_request_tat is not None else None,
        _quota(tpm, token_tat, now) if tpm else None)
    return Admission(decision, new_request_tat)


def charge_tokens(tpm: int, token_tat: float, now: float, tokens: int) -> float:
    """The token TAT after a call that used `tokens` (may run ahead of now + 60 s: debt)."""
    return max(token_tat, now) + tokens * interval(tpm)


def retry_after_header(seconds: float) -> int:
    """Whole seconds, rounded up (an early retry would be refused again), at least 1."""
    return max(1, math.ceil(seconds - EPSILON_SECONDS))
