"""The one place that imports the `kubernetes` client (untyped: its `Any` stays in here).

Imported lazily, so a file-source deployment never pays for (or needs) the client. In a pod
the in-cluster config is used (ServiceAccount token); elsewhere the kubeconfig.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Protocol

from app.config import Settings
from app.config_watch.events import ObjectRef
from app.errors import PolicyError

POLICY_KEY = "policy.yaml"

_config_lock = threading.Lock()
_config_loaded = False


class WatchStream(Protocol):
    """What KubernetesPolicyWatcher needs of `kubernetes.watch.Watch`."""

    def stream(self, func: Any, *args: Any, **kwargs: Any) -> Any: ...

    def stop(self) -> None: ...


def configmap_ref(settings: Settings) -> tuple[str, str]:
    """`namespace/name` from SRE_AI_POLICY_CONFIGMAP; a bare name takes POD_NAMESPACE."""
    ref = settings.policy_configmap or ""
    if "/" in ref:
        namespace, name = ref.split("/", 1)
        return namespace, name
    return os.environ.get("POD_NAMESPACE", ""), ref


def load_config() -> None:
    """In-cluster config when running in a pod, else ~/.kube/config (or $KUBECONFIG)."""
    global _config_loaded
    from kubernetes import config as _config

    config: Any = _config
    with _config_lock:
        if _config_loaded:
            return
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        _config_loaded = True


def core_v1() -> Any:
    """A `CoreV1Api` on the loaded configuration."""
    from kubernetes import client

    load_config()
    return client.CoreV1Api()


def new_watch() -> WatchStream:
    from kubernetes import watch as _watch

    watch: Any = _watch
    stream: WatchStream = watch.Watch()
    return stream


def api_status(exc: BaseException) -> int | None:
    """The HTTP status of a client ApiException, None for anything else (network errors)."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException) and isinstance(exc.status, int):
        return exc.status
    return None


def policy_text(configmap: Any) -> str | None:
    """The policy document in a ConfigMap object, None when the key is absent."""
    data = getattr(configmap, "data", None) or {}
    text = data.get(POLICY_KEY)
    return text if isinstance(text, str) else None


def object_ref(configmap: Any) -> ObjectRef:
    meta = configmap.metadata
    return ObjectRef(
        namespace=str(meta.namespace),
        name=str(meta.name),
        uid=meta.uid,
        resource_version=meta.resource_version,
    )


def read_policy_configmap(namespace: str, name: str, api: Any = None) -> tuple[str, ObjectRef]:
    """Read the policy ConfigMap once (start-up). Raises PolicyError saying what is missing."""
    try:
        api = api if api is not None else core_v1()
        configmap = api.read_namespaced_config_map(name, namespace)
    except Exception as exc:
        raise PolicyError(f"cannot read ConfigMap {namespace}/{name}: {describe(exc)}") from exc
    text = policy_text(configmap)
    if text is None:
        raise PolicyError(f"ConfigMap {namespace}/{name} has no data key {POLICY_KEY!r}")
    return text, object_ref(configmap)


def describe(exc: BaseException) -> str:
    status = api_status(exc)
    if status is not None:
        return f"HTTP {status} {getattr(exc, 'reason', '')}".strip()
    return f"{type(exc).__name__}: {exc}"
