"""Which watchers run, from the Settings: what the lifespan starts as tasks."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from app.clock import Clock
from app.config import Settings
from app.config_watch import kube_client
from app.config_watch.break_glass import BreakGlassEvents
from app.config_watch.events import EventRecorder, ObjectRef
from app.config_watch.file_watch import FilePolicyWatcher
from app.config_watch.initial import last_applied_store
from app.config_watch.kube_watch import KubernetesPolicyWatcher
from app.config_watch.last_applied import LastAppliedStore
from app.metrics import Metrics

if TYPE_CHECKING:
    from app.policy_source import PolicyManager, ReloadOutcome

log = logging.getLogger("app.policy")


class PolicySource(Protocol):
    """Anything the lifespan runs as a task: works until cancelled, never returns early."""

    async def run(self) -> None: ...


def build_policy_watchers(
    settings: Settings,
    manager: PolicyManager,
    metrics: Metrics,
    clock: Clock,
) -> list[PolicySource]:
    """The watchers for these Settings: the policy (file or ConfigMap) and break-glass Events
    when the policy comes from a ConfigMap. (The runbooks directory's watcher is made by the
    runtime before the first load: app/runtime.py.)

    `metrics` is accepted so the lifespan wiring stays stable; reload metrics are the manager's.
    """
    del metrics
    interval = settings.watch_interval_seconds
    watchers: list[PolicySource] = []
    if settings.policy_source == "kubernetes":
        namespace, name = kube_client.configmap_ref(settings)
        api = kube_client.core_v1()
        recorder = EventRecorder(api, clock)
        watchers.append(KubernetesPolicyWatcher(
            namespace, name, manager, recorder, api=api,
            last_applied=last_applied_store(settings, clock, api)))
        watchers.append(_break_glass_events(recorder, ObjectRef(namespace, name), manager,
                                            clock, interval))
    elif settings.policy_file is not None:
        in_cluster = _in_cluster_recorder(settings, clock)
        hooks = [_event_hook(*in_cluster) if in_cluster else None,
                 _record_hook(last_applied_store(settings, clock, None))]
        if in_cluster is not None:
            watchers.append(_break_glass_events(*in_cluster, manager, clock, interval))
        watchers.append(
            FilePolicyWatcher(
                settings.policy_file,
                manager,
                interval,
                on_outcome=_all_of([h for h in hooks if h is not None]),
            )
        )
    return watchers


def _break_glass_events(recorder: EventRecorder, ref: ObjectRef, manager: PolicyManager,
                        clock: Clock, interval: float) -> BreakGlassEvents:
    """BreakGlassActive / BreakGlassExpired Events on the policy's ConfigMap."""
    events = BreakGlassEvents(recorder, ref, lambda: manager.current.policy, clock, interval)
    manager.subscribe(events.policy_applied)
    return events


def _in_cluster_recorder(
    settings: Settings, clock: Clock
) -> tuple[EventRecorder, ObjectRef] | None:
    """File source inside a cluster: report reloads (and break-glass) as Events on the
    mounted ConfigMap too.

    Needs KUBERNETES_SERVICE_HOST (set by the kubelet), the ConfigMap's name in
    SRE_AI_POLICY_CONFIGMAP (`ns/name`, or a bare name plus POD_NAMESPACE), and RBAC to get
    the ConfigMap and create/patch Events. Missing any of these: no Events, logs only.
    """
    namespace, name = kube_client.configmap_ref(settings)
    if not (os.environ.get("KUBERNETES_SERVICE_HOST") and namespace and name):
        return None
    try:
        recorder = EventRecorder(kube_client.core_v1(), clock)
    except Exception as exc:
        log.warning(
            "no Kubernetes Events for policy reloads: %s",
            exc,
            extra={"configmap": f"{namespace}/{name}"},
        )
        return None
    return recorder, ObjectRef(namespace=namespace, name=name)


def _event_hook(recorder: EventRecorder, target: ObjectRef) -> Hook:
    async def hook(outcome: ReloadOutcome) -> None:
        await recorder.policy_outcome(target, outcome)

    return hook


Hook = Callable[["ReloadOutcome"], Awaitable[None]]


def _record_hook(store: LastAppliedStore | None) -> Hook | None:
    """Record each policy applied (or found unchanged) as the last applied one."""
    if store is None:
        return None

    async def hook(outcome: ReloadOutcome) -> None:
        if outcome.result != "rejected":
            await asyncio.to_thread(store.save, outcome.active.policy, outcome.active.origin)

    return hook


def _all_of(hooks: list[Hook]) -> Hook | None:
    if not hooks:
        return None

    async def hook(outcome: ReloadOutcome) -> None:
        for each in hooks:
            await each(outcome)

    return hook
