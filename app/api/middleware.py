"""Pure ASGI middleware (BaseHTTPMiddleware would break contextvars): request id, body-size
limit, HTTP metrics by route template, ONE summary log line per request, and the answer to an
unhandled error.

Unhandled errors are answered HERE, not by an `Exception` handler: Starlette runs that handler
in ServerErrorMiddleware, outside this middleware, where the request id is already gone and the
response skips the `X-Request-ID` header; it also re-raises, so uvicorn logged the traceback a
second time. Here the error is logged once (one JSON line with the request id and `exc`), the
client gets the JSON 500 with the same id in body and header, and nothing propagates."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import internal_error_response
from app.api.load_shedding import ENDPOINT_STATE
from app.logs import log_fields_var, request_id_var
from app.metrics import Metrics

log = logging.getLogger("app.access")
error_log = logging.getLogger("app.errors")

REQUEST_ID_HEADER = "x-request-id"
# Where the rate limit gate (app/api/rate_limit.py) leaves its headers in the request state.
RATE_LIMIT_HEADERS = "rate_limit_headers"
# Where a streamed answer that ended in an `error` event leaves that error's status: its HTTP
# status was already 200, but the request's metric and log line count the error
# (app/api/event_stream.py), as the JSON reply's status would have.
STREAM_STATUS = "stream_status"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # the whole id: fullmatch
# Routes that probes and scrapers hit every few seconds: logged at DEBUG, not counted as active.
_QUIET = frozenset({"/metrics", "/health/live", "/health/ready"})

# Routes and services add fields (model, tokens, cost...) to the request's summary line through
# app.logs.add_log_fields.


async def _too_large(send: Send, limit: int, request_id: str) -> None:
    body = json.dumps({"error": "body_too_large",
                       "detail": f"request body exceeds {limit} bytes",
                       "request_id": request_id},
                      separators=(",", ":")).encode()  # as JSONResponse writes every other error
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int,
                 path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        # Routes whose bodies are larger by contract (Alertmanager's notifications), by path.
        self.path_limits = path_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, REQUEST_ID_HEADER.encode())
        # 128 random bits as 32 hex digits (as uuid4().hex was: unguessable, same form), a
        # quarter of uuid4's cost: no UUID object per request.
        rid = incoming if incoming and _SANE_ID.fullmatch(incoming) else secrets.token_hex(16)
        rid_token = request_id_var.set(rid)
        fields: dict[str, Any] = {}
        fields_token = log_fields_var.set(fields)
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        started = time.perf_counter()
        path = scope.get("path", "")
        quiet = path in _QUIET
        if not quiet:
            self.metrics.active_requests.inc()

        started_response = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), rid.encode()))
                # A rate-limited route's X-RateLimit-* (app/api/rate_limit.py), on any answer.
                for name, value in scope["state"].get(RATE_LIMIT_HEADERS, {}).items():
                    headers.append((name.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        try:
            limit = self.path_limits.get(path, self.max_body_bytes)
            body_receive = await self._buffered_body(scope, receive, limit)
            if body_receive is None:
                await _too_large(send_wrapper, limit, rid)
            else:
                await self.app(scope, body_receive, send_wrapper)
        except Exception:
            error_log.exception("unhandled error", extra={"fields": {
                "method": scope.get("method"), "path": path,
                "response_started": started_response}})
            status = 500
            if not started_response:
                await internal_error_response()(scope, receive, send_wrapper)
            # Not re-raised: the error is logged and answered. When the response had already
            # started, the server closes the connection on the incomplete response.
        finally:
            elapsed = time.perf_counter() - started
            status = scope["state"].get(STREAM_STATUS, status)
            if not quiet:
                self.metrics.active_requests.dec()
            route = scope.get("route")
            # a request answered before routing names its route itself (load_shedding.py)
            endpoint = (getattr(route, "path", None) or scope["state"].get(ENDPOINT_STATE)
                        or "unmatched")
            self.metrics.http_request(endpoint, status, elapsed)
            log.log(
                logging.DEBUG if quiet and status < 400 else logging.INFO,
                "request",
                extra={"fields": {"method": scope.get("method"), "endpoint": endpoint,
                                  "status": status, "latency_s": round(elapsed, 4), **fields}},
            )
            log_fields_var.reset(fields_token)
            request_id_var.reset(rid_token)

    async def _buffered_body(self, scope: Scope, receive: Receive, limit: int) -> Receive | None:
        """Read the whole body (it is small by contract) and hand the app a replay of it.
        None when it is over the limit: the caller answers 413 without running the app."""
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                chunks = []
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return None
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for http.disconnect

        return replay
