"""The policy to start with, from the Settings: the file, the ConfigMap, or the built-in one."""

from __future__ import annotations

from typing import Any

from app.clock import Clock
from app.config import Policy, Settings, parse_policy
from app.config_watch import kube_client
from app.config_watch.events import EventRecorder
from app.errors import PolicyError
from app.policy_source import DEFAULT_ORIGIN, ActivePolicy


def initial_policy(settings: Settings, clock: Clock, *, kube_api: Any = None) -> ActivePolicy:
    """The policy to start with. Raises PolicyError when the configured one is unusable:
    at start-up there is no last good policy to fall back to. (`kube_api`: tests only.)"""
    if settings.policy_source == "kubernetes":
        return _initial_from_configmap(settings, clock, kube_api)
    if settings.policy_file is None:
        policy = Policy()
        return ActivePolicy(policy, 1, policy.digest, DEFAULT_ORIGIN, clock.now())
    path = settings.policy_file
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from exc
    origin = f"file:{path}"
    try:
        policy = parse_policy(text)
    except PolicyError as exc:
        raise PolicyError(f"invalid policy from {origin}: {exc.detail}") from exc
    return ActivePolicy(policy, 1, policy.digest, origin, clock.now())


def _initial_from_configmap(settings: Settings, clock: Clock, api: Any) -> ActivePolicy:
    """Read the ConfigMap once. An invalid one is also reported as a PolicyRejected Event,
    so `kubectl describe configmap` says why the pods do not start."""
    namespace, name = kube_client.configmap_ref(settings)
    if api is None:
        try:
            api = kube_client.core_v1()
        except Exception as exc:
            raise PolicyError(f"no Kubernetes client configuration: {exc}") from exc
    text, ref = kube_client.read_policy_configmap(namespace, name, api)
    origin = f"configmap:{namespace}/{name}@{ref.resource_version}"
    try:
        policy = parse_policy(text)
    except PolicyError as exc:
        message = f"invalid policy from {origin}: {exc.detail}"
        EventRecorder(api, clock).record_sync(
            ref, "PolicyRejected", "Warning", f"{message} (no last good policy: cannot start)"
        )
        raise PolicyError(message) from exc
    return ActivePolicy(policy, 1, policy.digest, origin, clock.now())
