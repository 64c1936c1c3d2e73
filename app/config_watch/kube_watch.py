"""Watch the policy ConfigMap through the Kubernetes API (SRE_AI_POLICY_SOURCE=kubernetes).

The informer pattern, for one object: list (field selector `metadata.name=<name>`, which RBAC
`resourceNames` allows) to get the state and a resourceVersion, then watch from that version.
A watch that ends normally (server timeout) resumes from the last version seen; one that
expired (410 Gone) relists; any other error (API down, network) retries with capped backoff.

The `kubernetes` client blocks, so list/watch run in a dedicated daemon thread that only
pushes changes onto an asyncio.Queue; validating and applying happen on the event loop, where
subscribers (breakers, metrics) live. Cancelling `run()` returns at once and stops the thread:
`Watch.stop()` shuts the socket down, so a blocked read ends (at worst the server-side watch
timeout ends it; the thread is a daemon, so it never holds up the process exit).
`step()` is one list+watch session and `handle()` applies one change: the tests drive those.
A policy applied (or found unchanged) is recorded as the last applied one, for new pods.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from app.config_watch import kube_client
from app.config_watch.events import EventRecorder
from app.config_watch.last_applied import LastAppliedStore

if TYPE_CHECKING:
    from app.policy_source import PolicyManager, ReloadOutcome

log = logging.getLogger("app.policy")

LIST_TIMEOUT = 30.0  # seconds; a list that hangs on a dead connection must not stall the watch
ChangeKind = Literal["LISTED", "ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True)
class ConfigMapChange:
    kind: ChangeKind
    configmap: Any  # the client's V1ConfigMap; None when a list found no such ConfigMap


class Backoff:
    """Capped exponential delays: initial, x2, ... up to cap; reset after a good session."""

    def __init__(self, initial_seconds: float = 0.5, cap_seconds: float = 30.0) -> None:
        self._initial = initial_seconds
        self._cap = cap_seconds
        self._next = initial_seconds

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self._cap)
        return delay

    def reset(self) -> None:
        self._next = self._initial


class KubernetesPolicyWatcher:
    def __init__(
        self,
        namespace: str,
        name: str,
        manager: PolicyManager,
        recorder: EventRecorder,
        *,
        api: Any = None,
        watch_factory: Callable[[], kube_client.WatchStream] = kube_client.new_watch,
        watch_timeout_seconds: int = 300,
        backoff: Backoff | None = None,
        last_applied: LastAppliedStore | None = None,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self._manager = manager
        self._recorder = recorder
        self._api = api
        self._watch_factory = watch_factory
        self._watch_timeout = watch_timeout_seconds
        self._backoff = backoff or Backoff()
        self._last_applied = last_applied
        self.resource_version: str | None = None  # None: the next step lists first
        self._stop = threading.Event()
        self._watch: kube_client.WatchStream | None = None
        self._handled: tuple[str | None, str] | None = None  # (uid, content hash) last handled

    # ------------------------------------------------------------ blocking side (thread)

    def step(self, emit: Callable[[ConfigMapChange], None]) -> float:
        """One list (when needed) and one watch session. Returns seconds to wait before the
        next step: 0 to go on at once (normal end, or relist after 410), a backoff on errors."""
        try:
            api = self._api = self._api if self._api is not None else kube_client.core_v1()
            if self.resource_version is None:
                listed = api.list_namespaced_config_map(
                    self.namespace, field_selector=self._selector, _request_timeout=LIST_TIMEOUT
                )
                self.resource_version = listed.metadata.resource_version
                items = list(listed.items or [])
                emit(ConfigMapChange("LISTED", items[0] if items else None))
            events = self._watch_session(api, emit)
        except Exception as exc:
            if self._stop.is_set():  # stop() cut the connection: not an error
                return 0.0
            if kube_client.api_status(exc) == 410:
                log.info("watch of ConfigMap %s expired (410 Gone); relisting", self._ref)
                self.resource_version = None
                return 0.0
            delay = self._backoff.next_delay()
            log.warning(
                "watching ConfigMap %s failed, retrying in %.1fs: %s",
                self._ref,
                delay,
                kube_client.describe(exc),
                extra={"configmap": self._ref},
            )
            return delay
        self._backoff.reset()
        # A session that ended at once with nothing in it must not become a busy loop.
        return 0.0 if events else 1.0

    def _watch_session(self, api: Any, emit: Callable[[ConfigMapChange], None]) -> int:
        watch = self._watch = self._watch_factory()
        count = 0
        try:
            stream = watch.stream(
                api.list_namespaced_config_map,
                self.namespace,
                field_selector=self._selector,
                resource_version=self.resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=self._watch_timeout,
                # A silently dead connection must not hang the thread forever.
                _request_timeout=self._watch_timeout + 30,
            )
            for event in stream:
                if self._stop.is_set():
                    break
                count += 1
                kind = event.get("type")
                if kind == "BOOKMARK":
                    meta = (event.get("raw_object") or {}).get("metadata") or {}
                    self.resource_version = meta.get("resourceVersion", self.resource_version)
                elif kind in ("ADDED", "MODIFIED", "DELETED"):
                    obj = event["object"]
                    self.resource_version = obj.metadata.resource_version
                    emit(ConfigMapChange(kind, obj))
        finally:
            self._watch = None
        return count

    def _thread_main(self, emit: Callable[[ConfigMapChange], None]) -> None:
        while not self._stop.is_set():
            delay = self.step(emit)
            if delay > 0:
                self._stop.wait(delay)

    def stop(self) -> None:
        """Ask the thread to finish: interrupts a watch in progress and any backoff wait."""
        self._stop.set()
        watch = self._watch
        if watch is not None:
            watch.stop()

    # ------------------------------------------------------------ event loop side

    async def handle(self, change: ConfigMapChange) -> ReloadOutcome | None:
        """Validate and apply one change; report it as an Event. DELETED keeps the policy."""
        obj = change.configmap
        if change.kind == "DELETED" or obj is None:
            active = self._manager.current
            log.warning(
                "ConfigMap %s %s; keeping policy generation %d",
                self._ref,
                "deleted" if obj is not None else "not found",
                active.generation,
                extra={"configmap": self._ref, "policy_generation": active.generation},
            )
            self._handled = None
            return None
        ref = kube_client.object_ref(obj)
        text = kube_client.policy_text(obj)
        key = (ref.uid, hashlib.sha256((text or "\0missing").encode()).hexdigest())
        if key == self._handled:  # relists and metadata-only edits: nothing new to say
            return None
        self._handled = key
        origin = f"configmap:{self._ref}@{ref.resource_version}"
        if text is None:
            outcome = self._manager.reject(f"no data key {kube_client.POLICY_KEY!r}", origin)
        else:
            outcome = self._manager.apply_text(text, origin)
        await self._recorder.policy_outcome(ref, outcome)
        if outcome.result != "rejected" and self._last_applied is not None:
            # What a pod started after a later invalid edit falls back to (last_applied.py).
            active = outcome.active
            await asyncio.to_thread(self._last_applied.save, active.policy, active.origin)
        return outcome

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[ConfigMapChange] = asyncio.Queue()

        def emit(change: ConfigMapChange) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, change)
            except RuntimeError:  # the loop is closed: the service is shutting down
                self._stop.set()

        self._stop.clear()
        thread = threading.Thread(
            target=self._thread_main, args=(emit,), name=f"policy-watch:{self._ref}", daemon=True
        )
        thread.start()
        try:
            while True:
                change = await queue.get()
                try:
                    await self.handle(change)
                except Exception:
                    log.exception("applying a change of ConfigMap %s failed", self._ref)
        finally:
            self.stop()

    @property
    def _selector(self) -> str:
        return f"metadata.name={self.name}"

    @property
    def _ref(self) -> str:
        return f"{self.namespace}/{self.name}"
