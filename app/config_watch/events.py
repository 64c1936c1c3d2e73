"""Kubernetes Events on the policy ConfigMap: `PolicyApplied` / `PolicyRejected`, and
`BreakGlassActive` / `BreakGlassExpired` (app/config_watch/break_glass.py).

This is how an operator reports status: `kubectl describe configmap <name>` shows why an edit
was rejected, next to the object that was edited. core/v1 Events are used (the API kubectl
describe lists, filtered by the object's uid); a repeated identical event is aggregated the way
client-go does it (count + lastTimestamp patched) instead of piling up new objects.

Recording never fails a reload: errors (no RBAC, API down) are logged and dropped.
Needs RBAC `create` and `patch` on `events`, and `get` on the ConfigMap when the uid is unknown.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from app.clock import Clock

if TYPE_CHECKING:
    from app.policy_source import ReloadOutcome

log = logging.getLogger("app.policy")

COMPONENT = "sre-ai-platform"
MAX_MESSAGE_CHARS = 1024  # events.k8s.io's limit for `note`; long validation lists are cut
_AGGREGATE_KEYS = 64

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class ObjectRef:
    """The ConfigMap an Event is about. Without a uid the recorder looks it up."""

    namespace: str
    name: str
    uid: str | None = None
    resource_version: str | None = None


class EventRecorder:
    """Records core/v1 Events about ConfigMaps through a `CoreV1Api`-like object."""

    def __init__(self, api: Any, clock: Clock, *, instance: str | None = None) -> None:
        self._api = api
        self._clock = clock
        self._instance = instance or os.environ.get("POD_NAME") or os.environ.get("HOSTNAME", "")
        # (namespace, uid, reason, message) -> (event name, count), oldest first
        self._sequence = 0
        self._rejected: set[tuple[str, str]] = set()
        self._recent: OrderedDict[tuple[str, str, str, str], tuple[str, int]] = OrderedDict()

    async def policy_outcome(self, ref: ObjectRef, outcome: ReloadOutcome) -> None:
        """PolicyApplied (Normal) or PolicyRejected (Warning); nothing when unchanged,
        unless the previous document was rejected (then the recovery is reported)."""
        target = (ref.namespace, ref.name)
        if outcome.result == "rejected":
            self._rejected.add(target)
            await self.record(ref, "PolicyRejected", "Warning", outcome.message)
        elif outcome.result == "applied" or target in self._rejected:
            # A rejected edit reverted to the active policy is "unchanged", yet the Warning
            # must not stay the last word in `kubectl describe`.
            self._rejected.discard(target)
            await self.record(ref, "PolicyApplied", "Normal", outcome.message)

    async def record(self, ref: ObjectRef, reason: str, type_: EventType, message: str) -> None:
        """Record off the event loop: the client is blocking."""
        await asyncio.to_thread(self.record_sync, ref, reason, type_, message)

    def record_sync(self, ref: ObjectRef, reason: str, type_: EventType, message: str) -> None:
        try:
            self._record(ref, reason, type_, message[:MAX_MESSAGE_CHARS])
        except Exception as exc:
            log.warning(
                "could not record %s Event on ConfigMap %s/%s: %s",
                reason,
                ref.namespace,
                ref.name,
                _brief(exc),
                extra={"configmap": f"{ref.namespace}/{ref.name}", "reason": reason},
            )

    def _record(self, ref: ObjectRef, reason: str, type_: EventType, message: str) -> None:
        uid = ref.uid or self._api.read_namespaced_config_map(ref.name, ref.namespace).metadata.uid
        now = self._clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        key = (ref.namespace, str(uid), reason, message)
        seen = self._recent.get(key)
        if seen is not None:
            name, count = seen
            try:
                self._api.patch_namespaced_event(
                    name, ref.namespace, {"count": count + 1, "lastTimestamp": now}
                )
            except Exception as exc:
                if getattr(exc, "status", None) != 404:  # 404: expired (event TTL), recreate
                    raise
            else:
                self._remember(key, name, count + 1)
                return
        # client-go's naming: <object>.<hex nanoseconds>; the sequence keeps names unique
        # when two events share a clock reading.
        self._sequence += 1
        name = f"{ref.name}.{int(self._clock.now().timestamp() * 1e9) + self._sequence:x}"
        self._api.create_namespaced_event(ref.namespace,
                                          self._body(ref, uid, name, reason, type_, message))
        self._remember(key, name, 1)
        _log_recorded(reason, ref)

    async def record_once(self, ref: ObjectRef, reason: str, type_: EventType, message: str,
                          key: str) -> bool:
        """Record an Event that must exist once per (object, reason, key) across every
        replica: its name is derived from them, so the API server's name uniqueness dedupes
        (a 409 means another replica, or this one before a restart, already recorded it).
        True when the Event exists now; False on any other error (logged: retry later)."""
        return await asyncio.to_thread(self._record_once, ref, reason, type_, message, key)

    def _record_once(self, ref: ObjectRef, reason: str, type_: EventType, message: str,
                     key: str) -> bool:
        try:
            uid = ref.uid or self._api.read_namespaced_config_map(
                ref.name, ref.namespace).metadata.uid
            digest = hashlib.sha256(f"{uid}\0{reason}\0{key}".encode()).hexdigest()[:20]
            name = f"{ref.name[:200]}.{reason.lower()}.{digest}"
            body = self._body(ref, uid, name, reason, type_, message[:MAX_MESSAGE_CHARS])
            self._api.create_namespaced_event(ref.namespace, body)
        except Exception as exc:
            if getattr(exc, "status", None) == 409:  # AlreadyExists: recorded before
                return True
            log.warning("could not record %s Event on ConfigMap %s/%s: %s", reason,
                        ref.namespace, ref.name, _brief(exc),
                        extra={"configmap": f"{ref.namespace}/{ref.name}", "reason": reason})
            return False
        _log_recorded(reason, ref)
        return True

    def _body(self, ref: ObjectRef, uid: object, name: str, reason: str, type_: EventType,
              message: str) -> dict[str, Any]:
        now = self._clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ref.namespace},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "name": ref.name,
                "namespace": ref.namespace,
                "uid": uid,
                "resourceVersion": ref.resource_version,
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": COMPONENT, "host": os.environ.get("NODE_NAME") or None},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }

    def _remember(self, key: tuple[str, str, str, str], name: str, count: int) -> None:
        self._recent[key] = (name, count)
        self._recent.move_to_end(key)
        while len(self._recent) > _AGGREGATE_KEYS:
            self._recent.popitem(last=False)


def _log_recorded(reason: str, ref: ObjectRef) -> None:
    log.info("recorded %s Event on ConfigMap %s/%s", reason, ref.namespace, ref.name,
             extra={"configmap": f"{ref.namespace}/{ref.name}", "reason": reason})


def _brief(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return f"HTTP {status} {getattr(exc, 'reason', '') or ''}".strip()
    return f"{type(exc).__name__}: {exc}"
