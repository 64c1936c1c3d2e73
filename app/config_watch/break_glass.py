"""Break-glass as Kubernetes Events on the policy ConfigMap (issue 17).

When the policy comes from a ConfigMap, an operator running `kubectl describe configmap` sees
that a budget was raised and when it drops back: a `BreakGlassActive` Event (Warning: budgets
are above their usual limits) when an entry comes into effect, a `BreakGlassExpired` Event
(Normal) when its `until` passes. Expiry is a time, not a config change, so the check runs on a
timer (every watch interval, on the injected clock) and at once after each applied policy.

Once per entry across the fleet: every replica runs this, but an Event's name is derived from
(ConfigMap uid, reason, entry), so the API server's name uniqueness keeps one Event per entry and
reason; a replica that finds it exists (409) takes it as recorded. Each process also remembers
what it recorded, so it asks at most once per entry (plus retries after a failed request).
Kubernetes deletes Events after its event TTL (1 h by default): a pod that starts later while
the entry is still active records it again, which is the most an operator sees.

An entry removed from the policy before its `until` records nothing more: the PolicyApplied
Event of that edit says the policy changed. An entry already expired when first seen (a pod
started after it) records nothing. ai_break_glass_active{scope} shows the same state as a
metric, with or without a ConfigMap (app/budget/reporting.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from app.clock import Clock
from app.config import Policy
from app.config.teams import BreakGlass
from app.config_watch.events import EventRecorder, ObjectRef

log = logging.getLogger("app.policy")


def entry_key(entry: BreakGlass) -> str:
    """One entry's identity: its scope, end and reason (not its amounts: raising an active
    entry further is the same break-glass)."""
    return f"{entry.scope}\0{entry.until.isoformat()}\0{entry.reason}"


def describe(entry: BreakGlass) -> str:
    raised = ", ".join(f"{k} {v:g}" for k, v in entry.budgets.set_fields().items())
    who = "global budgets" if entry.scope == "global" else f"team {entry.scope}'s budgets"
    return (f"break-glass raises {who} ({raised}) until "
            f"{entry.until:%Y-%m-%dT%H:%M:%SZ}: {entry.reason}")


class BreakGlassEvents:
    def __init__(self, recorder: EventRecorder, ref: ObjectRef, policy: Callable[[], Policy],
                 clock: Clock, interval_seconds: float) -> None:
        self._recorder = recorder
        self._ref = ref
        self._policy = policy
        self._clock = clock
        self._interval = interval_seconds
        self._active: dict[str, BreakGlass] = {}  # recorded active, expiry not recorded yet
        self._done: set[str] = set()  # expiry recorded: never again in this process
        self._wake = asyncio.Event()

    def policy_applied(self, *_: object) -> None:
        """A PolicyManager subscriber: check now rather than at the next tick."""
        self._wake.set()

    async def check(self) -> None:
        now = self._clock.now()
        entries = {entry_key(e): e for e in self._policy().break_glass}
        for key, entry in list(self._active.items()):
            if not entry.active(now):
                message = (f"break-glass ended at {entry.until:%Y-%m-%dT%H:%M:%SZ}; "
                           f"{entry.scope} limits are back to the policy's: {entry.reason}")
                if await self._recorder.record_once(self._ref, "BreakGlassExpired", "Normal",
                                                    message, key):
                    del self._active[key]
                    self._done.add(key)
            elif key not in entries:
                del self._active[key]  # withdrawn early: PolicyApplied said so
        for key, entry in entries.items():
            if key in self._active or key in self._done or not entry.active(now):
                continue
            if await self._recorder.record_once(self._ref, "BreakGlassActive", "Warning",
                                                describe(entry), key):
                self._active[key] = entry

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # never dies: the next tick tries again
                log.exception("checking break-glass entries for Events failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
