"""The active Policy and how it changes at runtime (docs/architecture.md).

`PolicyManager` holds the one active policy. A new document is validated before it is applied:
an invalid one is rejected and the last good policy stays active; an identical one changes
nothing. Readers take ONE snapshot (`manager.current`) per request, so a request that started
under generation N finishes under N even if N+1 is applied meanwhile.

The watchers that feed the manager, and the first policy read at start-up (`initial_policy`),
live in `app/config_watch/`, which depends on this module, never the other way round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from app.clock import Clock
from app.config import Policy, parse_policy
from app.errors import PolicyError
from app.metrics import Metrics

log = logging.getLogger("app.policy")

DEFAULT_ORIGIN = "built-in default"


@dataclass(frozen=True)
class ActivePolicy:
    """One applied policy: what it says, which generation it is, and where it came from."""

    policy: Policy
    generation: int
    digest: str
    origin: str
    applied_at: datetime


@dataclass(frozen=True)
class ReloadOutcome:
    result: Literal["applied", "rejected", "unchanged"]
    message: str
    # The policy active AFTER this reload (the previous one when rejected or unchanged).
    active: ActivePolicy


class PolicyManager:
    """Holds the active policy; validates, applies and reports reloads."""

    def __init__(self, initial: ActivePolicy, metrics: Metrics, clock: Clock, *,
                 rejected: str | None = None) -> None:
        """`rejected`: the configured document was refused at start-up and `initial` is the
        last applied policy instead; reported like any rejection (last_error, error count)."""
        self._current = initial
        self._metrics = metrics
        self._clock = clock
        self._last_error: str | None = rejected
        if rejected is not None:
            metrics.config_reloaded("policy", ok=False)
        self._subscribers: list[Callable[[ActivePolicy], None]] = []
        # Watchers apply on the event loop, but apply_text stays safe from any thread: writers
        # are serialised; readers never take the lock (replacing one reference is atomic).
        self._lock = threading.Lock()
        metrics.set_config_info("policy", initial.generation, initial.digest)

    @property
    def current(self) -> ActivePolicy:
        return self._current

    @property
    def last_error(self) -> str | None:
        """Why the most recent document was rejected; None once a good one is seen again."""
        return self._last_error

    def subscribe(self, callback: Callable[[ActivePolicy], None]) -> None:
        """Call `callback` with each newly applied policy (not for rejected or unchanged)."""
        self._subscribers.append(callback)

    def apply_text(self, text: str, origin: str) -> ReloadOutcome:
        """Validate `text`; apply it when it differs from the active policy (by content hash:
        comments and formatting do not make a new generation). Never raises on bad input."""
        try:
            policy = parse_policy(text)
        except PolicyError as exc:
            return self.reject(exc.detail, origin)
        with self._lock:
            active = self._current
            self._last_error = None
            if policy.digest == active.digest:
                # the newest document is the one in effect: nothing rejected any more
                self._metrics.config_reloaded("policy", ok=True, count=False)
                return ReloadOutcome(
                    "unchanged",
                    f"policy from {origin} matches the active generation {active.generation}",
                    active,
                )
            active = ActivePolicy(
                policy=policy,
                generation=active.generation + 1,
                digest=policy.digest,
                origin=origin,
                applied_at=self._clock.now(),
            )
            self._current = active
            self._metrics.config_reloaded("policy", ok=True)
            self._metrics.set_config_info("policy", active.generation, active.digest)
        log.info(
            "policy generation %d applied from %s",
            active.generation,
            origin,
            extra={
                "policy_generation": active.generation,
                "policy_hash": active.digest,
                "origin": origin,
                "result": "applied",
            },
        )
        self._notify(active)
        return ReloadOutcome(
            "applied",
            f"policy generation {active.generation} (hash {active.digest}) applied from {origin}",
            active,
        )

    def reject(self, reason: str, origin: str) -> ReloadOutcome:
        """Record a document that cannot be applied; the active policy stays as it is."""
        with self._lock:
            active = self._current
            self._last_error = reason
            self._metrics.config_reloaded("policy", ok=False)
        log.warning(
            "policy from %s rejected, generation %d stays active: %s",
            origin,
            active.generation,
            reason,
            extra={
                "policy_generation": active.generation,
                "policy_hash": active.digest,
                "origin": origin,
                "result": "rejected",
                "reason": reason,
            },
        )
        return ReloadOutcome(
            "rejected",
            f"policy from {origin} rejected, generation {active.generation} "
            f"(hash {active.digest}) stays active: {reason}",
            active,
        )

    def _notify(self, active: ActivePolicy) -> None:
        for callback in self._subscribers:
            try:
                callback(active)
            except Exception:
                # The policy IS applied; one broken listener must not hide that from the rest.
                log.exception(
                    "policy subscriber %r failed",
                    callback,
                    extra={"policy_generation": active.generation},
                )
