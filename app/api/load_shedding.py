"""Load shedding: a replica works on at most `limit` requests of the routes that do paid work
(/ask and POST /alerts) at once; the next one is answered at once with 503 `overloaded`,
`Retry-After: 1` and `Connection: close`, before authentication, rate limits, retrieval or any
ledger or Redis operation.

Why a replica needs its own limit, although budgets, rate limits and the HPA exist: none of
them bounds what one pod holds at one moment. Each request in flight keeps ~90 KiB (a worker
with its paid calls held by a hanging upstream: 85-94 KiB each at 100-1,000 of them,
bench/load_shedding.py), so a burst the HPA has not caught up with, or an upstream that
slows down, grows the pod's memory until the kubelet OOM-kills it, and every request it held
fails at once; a stalled event loop also fails the readiness probe, which moves the whole load
onto the other replicas. A fast 503 for the excess keeps the pod inside its memory and its
latency, and tells the client (or a retrying proxy) to try again, usually on another replica
(`Connection: close` ends the keep-alive connection that pinned it here).

Probes, `/metrics` and the operator routes are never shed: the kubelet and Prometheus must see
a busy pod as alive and ready. The count is this worker's, exact (one event loop, no lock):
incremented when a request is admitted, decremented when its response (a whole stream
included) has ended, whatever the outcome."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.errors import error_response
from app.metric_labels import SHED_ENDPOINTS
from app.metrics import Metrics

# The request metric's `endpoint` for a shed request, which never reaches the router (the
# request context middleware reads it: app/api/middleware.py).
ENDPOINT_STATE = "endpoint"
RETRY_AFTER_SECONDS = 1


class InFlightLimit:
    """Pure ASGI middleware, inside RequestContextMiddleware (request id, log line, metrics)."""

    def __init__(self, app: ASGIApp, *, limit: int, metrics: Metrics) -> None:
        """`limit` 0: no limit (every request admitted, nothing counted)."""
        self.app = app
        self.limit = limit
        self._metrics = metrics
        self._paths = frozenset(SHED_ENDPOINTS)
        self.in_flight = 0
        metrics.in_flight_limit.set(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.limit <= 0 or scope["type"] != "http" or scope["path"] not in self._paths:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            path = scope["path"]
            scope.setdefault("state", {})[ENDPOINT_STATE] = path
            self._metrics.request_shed(path)
            await _overloaded(self.limit)(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def _overloaded(limit: int) -> JSONResponse:
    return error_response(
        503, "overloaded",
        f"this replica is serving its limit of {limit} requests at once; retry in "
        f"{RETRY_AFTER_SECONDS} s (another replica may answer)",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"})
