"""The last applied policy, kept where a NEW pod can read it (operator-style).

Running pods keep their last good policy in memory when an edit is invalid; a pod that starts
afterwards (HPA scale-out, drain, restart) reads the same invalid document. Without a record it
could only exit, and every new pod crash-looped. So each pod records the policy it applied, and
a starting pod that finds the source invalid starts on that record instead, reports the
rejection (Event, WARN log, `/health/ready` `policy.last_error`, the reload error counter) and
becomes Ready. A fresh install with an invalid policy has no record and still fails loudly.

Two stores, one format (the policy's canonical JSON, which parses back to the same hash):
- `ConfigMapLastApplied`: `<release>-policy-applied`, which the chart creates empty; pods may
  only get/update it (RBAC resourceNames), never create ConfigMaps or touch the policy itself.
  Every replica applies the same document within seconds, so they race to record it: a writer
  skips a record that already has its hash, and writes with the resourceVersion it read (a
  409 Conflict means another replica wrote first: read again, retry). Replicas converge on the
  newest applied policy; the record never holds a document that failed validation.
- `FileLastApplied`: a file on the ledger's volume for the file source (no API access). It
  helps a restarted container and, with the ledger's PersistentVolumeClaim, a replaced pod; on
  an emptyDir (Redis ledger) a NEW pod has no record (docs/architecture.md, live config).

`load()` returns None when there is no usable record; `save()` never raises (logs instead).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from app.clock import Clock
from app.config import Policy, parse_policy
from app.errors import PolicyError

log = logging.getLogger("app.policy")

POLICY_KEY = "policy.json"
CONFLICT_RETRIES = 3


@dataclass(frozen=True)
class LastApplied:
    policy: Policy
    origin: str  # where the recorded policy was applied from
    applied_at: str
    applied_by: str

    @property
    def digest(self) -> str:
        return self.policy.digest

    def describe(self) -> str:
        return f"hash {self.digest}, applied from {self.origin} at {self.applied_at}"


class LastAppliedStore(Protocol):
    where: str

    def load(self) -> LastApplied | None: ...

    def save(self, policy: Policy, origin: str) -> None: ...


def _record(policy: Policy, origin: str, clock: Clock) -> dict[str, str]:
    return {POLICY_KEY: policy.model_dump_json(), "hash": policy.digest, "origin": origin,
            "applied-at": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "applied-by": os.environ.get("POD_NAME") or os.environ.get("HOSTNAME", "")}


def _parse(data: dict[str, Any], where: str) -> LastApplied | None:
    text = data.get(POLICY_KEY)
    if not text:
        return None
    try:
        policy = parse_policy(str(text))
    except PolicyError as exc:  # e.g. recorded by an older version with other bounds
        log.warning("last applied policy in %s is not valid now: %s", where, exc.detail)
        return None
    return LastApplied(policy, str(data.get("origin", "")), str(data.get("applied-at", "")),
                       str(data.get("applied-by", "")))


class ConfigMapLastApplied:
    def __init__(self, api: Any, namespace: str, name: str, clock: Clock) -> None:
        self._api = api
        self.namespace = namespace
        self.name = name
        self._clock = clock
        self.where = f"configmap:{namespace}/{name}"

    def load(self) -> LastApplied | None:
        try:
            configmap = self._api.read_namespaced_config_map(self.name, self.namespace)
        except Exception as exc:
            log.warning("cannot read the last applied policy from %s: %s", self.where,
                        _brief(exc))
            return None
        return _parse(dict(configmap.data or {}), self.where)

    def save(self, policy: Policy, origin: str) -> None:
        try:
            self._save(policy, origin)
        except Exception as exc:
            log.warning("could not record the applied policy in %s: %s", self.where,
                        _brief(exc), extra={"policy_hash": policy.digest})

    def _save(self, policy: Policy, origin: str) -> None:
        for _ in range(CONFLICT_RETRIES):
            configmap = self._api.read_namespaced_config_map(self.name, self.namespace)
            if (configmap.data or {}).get("hash") == policy.digest:
                return  # another replica (or we, earlier) recorded this policy
            configmap.data = _record(policy, origin, self._clock)
            try:  # carries the resourceVersion read above: 409 if someone wrote meanwhile
                self._api.replace_namespaced_config_map(self.name, self.namespace, configmap)
            except Exception as exc:
                if getattr(exc, "status", None) == 409:
                    continue
                raise
            log.info("recorded policy hash %s as the last applied in %s", policy.digest,
                     self.where, extra={"policy_hash": policy.digest})
            return
        log.warning("gave up recording policy hash %s in %s after %d conflicts",
                    policy.digest, self.where, CONFLICT_RETRIES)


class FileLastApplied:
    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self._clock = clock
        self.where = f"file:{path}"

    def load(self) -> LastApplied | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("cannot read the last applied policy from %s: %s", self.where, exc)
            return None
        return _parse(data, self.where) if isinstance(data, dict) else None

    def save(self, policy: Policy, origin: str) -> None:
        try:
            if self.path.exists() and json.loads(self.path.read_text()).get("hash") == \
                    policy.digest:
                return
        except (OSError, ValueError):
            pass  # unreadable: overwrite it
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(_record(policy, origin, self._clock)), encoding="utf-8")
            os.replace(tmp, self.path)  # atomic: a crash never leaves half a record
        except OSError as exc:
            log.warning("could not record the applied policy in %s: %s", self.where, exc)


def _brief(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return f"HTTP {status} {getattr(exc, 'reason', '') or ''}".strip()
    return f"{type(exc).__name__}: {exc}"
