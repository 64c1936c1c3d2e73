"""Liveness and readiness (docs/architecture.md).

Live: the process answers. Ready: the pod can serve: a policy is loaded, runbooks are indexed,
and its own ledger answers. The LLM's state is REPORTED but never makes the pod unready: when
the API is down every replica would go unready at once and the degraded answers would be lost.

The same reasoning applies to a SHARED ledger (Redis): it is one dependency of every replica,
so an outage is reported here (and paid calls fail closed) but the pod stays ready to serve
cached answers and runbook excerpts. A pod-local SQLite ledger that fails is this pod's own
fault, so that one does make the pod unready. (The first design said "ledger reachable"; this is the
deviation, for the reason it gives about the LLM.) `dependencies` shows the shared Redis's own
breaker: while it is open the ledger check is answered without touching Redis.

Shutting down (SIGTERM received, app/api/draining.py) makes the pod unready at once, while the
listener is still open and the requests in flight finish: `shutdown: draining`.

Client API keys that are configured but yield none (`api_keys.state: deny_all`: the Secret's
key is missing, empty or unparseable) DO make the pod unready: such a pod cannot serve any
protected request (they fail closed, 503), and it is this pod's configuration. Being unready
is what makes a rollout with a wrong `auth.existingSecretKey` stall on its first new pod while
the old pods keep serving, instead of replacing working pods with locked ones. Keys that are
in effect while the file has become unreadable (the last good keys are kept) only REPORT
`api_keys.last_error`: the pod still serves correctly.

An Anthropic API key the API refuses (401/403: `upstream_auth.state: failing`, the models and
the last error) is REPORTED but does not make the pod unready, like the LLM itself: the key
comes from one Secret, so every replica would go unready at once, and the Service would stop
serving the cached answers and runbook excerpts that still work. Loud instead: an ERROR line
per model and minute, `auth_failing` in /circuit-breaker, and the AIUpstreamAuthFailing alert
(critical). `upstream_auth.state` is `ok` until a call is refused, `not_configured` without a
key (the offline provider).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.deps import RuntimeDep
from app.errors import LedgerUnavailableError
from app.resilience.upstream_auth import FIX
from app.runtime import Runtime

router = APIRouter()
MAX_SKIPPED_SHOWN = 20


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


# 503 carries the same body as 200, `status: not_ready` and the failing checks.
_NOT_READY: dict[int | str, dict[str, object]] = {
    503: {"description": "Not ready: the same checks, `status: not_ready`.",
          "content": {"application/json": {"schema": {"type": "object"}}}}}


@router.get("/health/ready", responses=_NOT_READY)
async def ready(request: Request, runtime: RuntimeDep) -> JSONResponse:
    draining = bool(request.app.state.draining.active)
    checks: dict[str, Any] = {"shutdown": "draining" if draining else "running"}
    ok = not draining
    active = runtime.policies.current
    checks["policy"] = {"generation": active.generation, "hash": active.digest,
                        "origin": active.origin, "last_error": runtime.policies.last_error}
    index = runtime.runbooks.current
    holder = runtime.runbooks
    checks["runbooks"] = {
        "count": len(index), "hash": index.digest, "problem": holder.problem,
        # a bounded list: a corpus of thousands of broken files must not make this page huge
        "skipped_count": len(holder.skipped),
        "skipped": [{"file": s.path, "reason": s.reason, "detail": s.detail}
                    for s in holder.skipped[:MAX_SKIPPED_SHOWN]],
    }
    if len(index) == 0:
        ok = False
    try:
        windows = await runtime.budget_snapshot()  # answering at all is the reachability check
        checks["ledger"] = "ok"
        checks["budget_remaining_usd"] = {w.window: round(w.remaining_usd, 6) for w in windows}
    except LedgerUnavailableError as exc:
        ok = ok and runtime.ledger_kind == "redis"
        checks["ledger"] = f"unavailable: {exc.detail}"
    keys = runtime.api_keys.status()
    checks["api_keys"] = {"state": keys.state, "loaded": keys.loaded,
                          "last_error": keys.last_error}
    if keys.state == "deny_all":
        ok = False
    checks["dependencies"] = runtime.dependency_states()  # after the ledger check: current
    checks["circuit_breaker"] = {
        name: snap.state for name, snap in runtime.breakers.snapshots().items()
    }
    checks["provider"] = runtime.provider_name
    checks["upstream_auth"] = _upstream_auth(runtime)
    body = {"status": "ready" if ok else "not_ready", **checks}
    return JSONResponse(body, status_code=200 if ok else 503)


def _upstream_auth(runtime: Runtime) -> dict[str, Any]:
    tracker = runtime.upstream_auth
    if tracker is None:
        return {"state": "not_configured"}
    failing = tracker.failing_models()
    if not failing:
        return {"state": "ok"}
    last = tracker.snapshot(failing[0])
    return {"state": "failing", "models": failing, "last_status": last.last_status,
            "last_error": last.last_error, "last_failure_at": last.last_failure_at,
            "message": FIX}
