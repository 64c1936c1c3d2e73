"""Hand-written fakes of the `kubernetes` client's interfaces used by the policy watcher.

`FakeCoreV1Api` keeps one ConfigMap and the Events recorded about it; `FakeWatchServer` hands
out `Watch`-like objects whose streams replay scripted sessions (a list of events, possibly
ending in an exception such as ApiException(410)). Objects are the client's real models, so
attribute names are the real ones.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.client import CoreV1Event, V1ConfigMap, V1ConfigMapList, V1ListMeta, V1ObjectMeta
from kubernetes.client.exceptions import ApiException

NAMESPACE = "sre-ai"
NAME = "sre-ai-policy"
UID = "0b7c7c5e-6f7a-4a57-9d49-3a8e1d1f0001"


def configmap(text: str | None, resource_version: str, uid: str = UID) -> V1ConfigMap:
    return V1ConfigMap(
        metadata=V1ObjectMeta(name=NAME, namespace=NAMESPACE, uid=uid,
                              resource_version=resource_version),
        data={"policy.yaml": text} if text is not None else {"other.yaml": "x"},
    )


def event(kind: str, obj: V1ConfigMap) -> dict[str, Any]:
    return {"type": kind, "object": obj, "raw_object": obj.to_dict()}


def bookmark(resource_version: str) -> dict[str, Any]:
    raw = {"kind": "ConfigMap", "metadata": {"resourceVersion": resource_version}}
    return {"type": "BOOKMARK", "object": raw, "raw_object": raw}


class FakeCoreV1Api:
    def __init__(self, current: V1ConfigMap | None, list_resource_version: str = "100") -> None:
        self.current = current
        self.list_resource_version = list_resource_version
        self.list_calls: list[dict[str, Any]] = []
        self.list_errors: deque[BaseException] = deque()
        self.events: dict[str, dict[str, Any]] = {}
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.event_errors: deque[BaseException] = deque()
        self.create_attempts = 0  # create requests, a 409 included
        # Other ConfigMaps by name (the last-applied record), their replaces, and hooks run
        # just before a replace (another replica writing first).
        self.others: dict[str, V1ConfigMap] = {}
        self.replaces: list[str] = []
        self.before_replace: deque[Callable[[FakeCoreV1Api], None]] = deque()

    # --- ConfigMaps
    def list_namespaced_config_map(self, namespace: str, **kwargs: Any) -> V1ConfigMapList:
        self.list_calls.append({"namespace": namespace, **kwargs})
        if self.list_errors:
            raise self.list_errors.popleft()
        items = [self.current] if self.current is not None else []
        return V1ConfigMapList(metadata=V1ListMeta(resource_version=self.list_resource_version),
                               items=items)

    def read_namespaced_config_map(self, name: str, namespace: str) -> V1ConfigMap:
        if name in self.others and namespace == NAMESPACE:
            return copy.deepcopy(self.others[name])  # a fresh object per read, as the API
        if self.current is None or name != NAME or namespace != NAMESPACE:
            raise ApiException(status=404, reason="Not Found")
        return self.current

    def replace_namespaced_config_map(self, name: str, namespace: str,
                                      body: V1ConfigMap) -> V1ConfigMap:
        """Optimistic concurrency as the API server does it: 409 on a stale resourceVersion.
        Only the other ConfigMaps (the record) may be written: RBAC forbids the policy one."""
        if name not in self.others or namespace != NAMESPACE:
            raise ApiException(status=403, reason="Forbidden")
        if self.before_replace:
            self.before_replace.popleft()(self)
        stored = self.others[name]
        assert body.metadata is not None and stored.metadata is not None
        version = stored.metadata.resource_version
        assert version is not None
        if body.metadata.resource_version != version:
            raise ApiException(status=409, reason="Conflict")
        body = copy.deepcopy(body)
        assert body.metadata is not None
        body.metadata.resource_version = str(int(version) + 1)
        self.others[name] = body
        self.replaces.append(name)
        return body

    def add_other(self, name: str, data: dict[str, str] | None = None) -> None:
        self.others[name] = V1ConfigMap(
            metadata=V1ObjectMeta(name=name, namespace=NAMESPACE, uid=f"uid-{name}",
                                  resource_version="1"), data=data)

    # --- Events
    def create_namespaced_event(self, namespace: str, body: dict[str, Any]) -> CoreV1Event:
        if self.event_errors:
            raise self.event_errors.popleft()
        model = CoreV1Event.model_validate(body)  # the real client's schema accepts it
        assert body["metadata"]["namespace"] == namespace
        self.create_attempts += 1
        if body["metadata"]["name"] in self.events:  # names are unique, as on the API server
            raise ApiException(status=409, reason="AlreadyExists")
        self.events[body["metadata"]["name"]] = dict(body)
        return model

    def patch_namespaced_event(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        if name not in self.events:
            raise ApiException(status=404, reason="Not Found")
        self.patches.append((name, body))
        self.events[name].update(body)

    def events_by_reason(self, reason: str) -> list[dict[str, Any]]:
        return [e for e in self.events.values() if e["reason"] == reason]


class FakeWatch:
    def __init__(self, server: FakeWatchServer) -> None:
        self._server = server
        self.stopped = False

    def stream(self, func: Any, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self._server.calls.append({"func": func, "args": args, **kwargs})
        session = self._server.sessions.popleft() if self._server.sessions else []
        for item in session:
            if isinstance(item, BaseException):
                raise item
            yield item
        if not self._server.sessions and self._server.block_when_empty:
            # Like a real watch with nothing to report: blocks until stopped.
            self._server.idle.set()
            self._server.release.wait()

    def stop(self) -> None:
        self.stopped = True
        self._server.release.set()


class FakeWatchServer:
    def __init__(self, *sessions: list[Any], block_when_empty: bool = False) -> None:
        self.sessions: deque[list[Any]] = deque(sessions)
        self.calls: list[dict[str, Any]] = []
        self.block_when_empty = block_when_empty
        self.idle = threading.Event()
        self.release = threading.Event()

    def new_watch(self) -> FakeWatch:
        return FakeWatch(self)


def gone() -> ApiException:
    return ApiException(status=410, reason="Expired: too old resource version")


def server_error() -> ApiException:
    return ApiException(status=500, reason="Internal Server Error")
