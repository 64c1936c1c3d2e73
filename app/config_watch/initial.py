"""The policy to start with, from the Settings: the file, the ConfigMap, or the built-in one.

When the configured document is invalid (or gone) and a last applied policy is recorded
(app/config_watch/last_applied.py), the pod starts on that record and reports the rejection,
instead of exiting: an invalid edit must not crash-loop every pod created after it. With no
record (a fresh install, or no store configured) it still fails: nothing valid was ever
applied, and an install with an invalid policy must not look healthy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from app.clock import Clock
from app.config import Policy, Settings, parse_policy
from app.config_watch import kube_client
from app.config_watch.events import EventRecorder, ObjectRef
from app.config_watch.last_applied import ConfigMapLastApplied, FileLastApplied, LastAppliedStore
from app.errors import PolicyError
from app.policy_source import DEFAULT_ORIGIN, ActivePolicy

log = logging.getLogger("app.policy")


@dataclass(frozen=True)
class StartingPolicy:
    active: ActivePolicy
    # Why the configured document is not the one in effect (started on the last applied).
    rejected: str | None = None


def initial_policy(settings: Settings, clock: Clock, *, kube_api: Any = None) -> ActivePolicy:
    """The policy to start with. Raises PolicyError when the configured one is unusable and
    no last applied policy is recorded. (`kube_api`: tests only.)"""
    return starting_policy(settings, clock, kube_api=kube_api).active


def starting_policy(settings: Settings, clock: Clock, *, kube_api: Any = None) -> StartingPolicy:
    if settings.policy_source == "kubernetes":
        return _from_configmap(settings, clock, kube_api)
    if settings.policy_file is None:
        policy = Policy()
        return StartingPolicy(ActivePolicy(policy, 1, policy.digest, DEFAULT_ORIGIN, clock.now()))
    path = settings.policy_file
    origin = f"file:{path}"
    try:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from exc
        try:
            policy = parse_policy(text)
        except PolicyError as exc:
            raise PolicyError(f"invalid policy from {origin}: {exc.detail}") from exc
    except PolicyError as exc:
        store = (FileLastApplied(settings.policy_last_applied_file, clock)
                 if settings.policy_last_applied_file is not None else None)
        return _fall_back(exc, store, clock)
    return StartingPolicy(ActivePolicy(policy, 1, policy.digest, origin, clock.now()))


def last_applied_store(settings: Settings, clock: Clock, api: Any) -> LastAppliedStore | None:
    """Where this pod records what it applies (None: nowhere configured)."""
    if settings.policy_source == "kubernetes" and settings.policy_applied_configmap:
        namespace, name = settings.policy_applied_configmap.split("/", 1)
        return ConfigMapLastApplied(api, namespace, name, clock)
    if settings.policy_source == "file" and settings.policy_last_applied_file is not None:
        return FileLastApplied(settings.policy_last_applied_file, clock)
    return None


def _from_configmap(settings: Settings, clock: Clock, api: Any) -> StartingPolicy:
    """Read the ConfigMap once. A rejection is also reported as a PolicyRejected Event, so
    `kubectl describe configmap` says why (and on which policy the pod started, if any)."""
    namespace, name = kube_client.configmap_ref(settings)
    if api is None:
        try:
            api = kube_client.core_v1()
        except Exception as exc:
            raise PolicyError(f"no Kubernetes client configuration: {exc}") from exc
    store = last_applied_store(settings, clock, api)
    ref: ObjectRef | None = None
    try:
        text, ref = kube_client.read_policy_configmap(namespace, name, api)
        origin = f"configmap:{namespace}/{name}@{ref.resource_version}"
        try:
            policy = parse_policy(text)
        except PolicyError as exc:
            raise PolicyError(f"invalid policy from {origin}: {exc.detail}") from exc
    except PolicyError as exc:
        try:
            starting = _fall_back(exc, store, clock)
        except PolicyError:
            if ref is not None:
                EventRecorder(api, clock).record_sync(
                    ref, "PolicyRejected", "Warning",
                    f"{exc.detail} (no last applied policy: cannot start)")
            raise
        if ref is not None:
            EventRecorder(api, clock).record_sync(ref, "PolicyRejected", "Warning",
                                                  starting.rejected or exc.detail)
        return starting
    return StartingPolicy(ActivePolicy(policy, 1, policy.digest, origin, clock.now()))


def _fall_back(exc: PolicyError, store: LastAppliedStore | None, clock: Clock) -> StartingPolicy:
    """Start on the last applied policy, or re-raise `exc` when there is none."""
    record = store.load() if store is not None else None
    if store is None or record is None:
        raise exc
    message = (f"{exc.detail}; starting on the last applied policy ({record.describe()}, "
               f"recorded in {store.where})")
    log.warning("%s", message, extra={"policy_hash": record.digest, "result": "rejected",
                                      "origin": store.where, "reason": exc.detail})
    origin = f"last applied ({record.origin}, recorded in {store.where})"
    active = ActivePolicy(record.policy, 1, record.digest, origin, clock.now())
    return StartingPolicy(active, rejected=message)
