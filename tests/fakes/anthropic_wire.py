"""HTTP details of the fake Anthropic API: error bodies, credentials, rate-limit headers, RST."""

from __future__ import annotations

import contextlib
import socket
import struct
import uuid
from datetime import UTC, datetime, timedelta

from aiohttp import web

from tests.fakes.anthropic_faults import error_type_for

RATE_LIMIT_KINDS = ("requests", "tokens", "input-tokens", "output-tokens")
DEFAULT_RATE_LIMITS = {
    "requests": 4000,
    "tokens": 2_400_000,
    "input-tokens": 2_000_000,
    "output-tokens": 400_000,
}


def request_id() -> str:
    return f"req_fake_{uuid.uuid4().hex[:24]}"


def error_response(
    status: int, message: str | None = None, *, headers: dict[str, str] | None = None
) -> web.Response:
    """Anthropic's error shape: {"type": "error", "error": {"type": ..., "message": ...}}."""
    etype = error_type_for(status)
    body = {"type": "error", "error": {"type": etype, "message": message or f"fake {etype}"}}
    reason = "Overloaded" if status == 529 else None
    return web.json_response(
        body, status=status, reason=reason, headers={"request-id": request_id(), **(headers or {})}
    )


def credential(request: web.Request) -> str:
    """The API key: `x-api-key`, or `Authorization: Bearer` (what SDK 2.x sends)."""
    key = request.headers.get("x-api-key", "")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return key or (token.strip() if scheme.lower() == "bearer" else "")


def abort(request: web.Request) -> None:
    """Drop the connection with a TCP RST, as a crashing load balancer would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class RateLimits:
    """`anthropic-ratelimit-<kind>-{limit,remaining,reset}`; remaining only goes down (or is set).
    Nothing is enforced: inject a 429 fault to simulate running out."""

    def __init__(self) -> None:
        self.limit = dict(DEFAULT_RATE_LIMITS)
        self.remaining = dict(DEFAULT_RATE_LIMITS)

    def set(self, kind: str, *, limit: int | None = None, remaining: int | None = None) -> None:
        if kind not in RATE_LIMIT_KINDS:
            raise ValueError(f"rate-limit kind must be one of {RATE_LIMIT_KINDS}")
        if limit is not None:
            self.limit[kind] = limit
        if remaining is not None:
            self.remaining[kind] = remaining

    def spend(self, input_tokens: int, output_tokens: int) -> None:
        used = {
            "requests": 1,
            "tokens": input_tokens + output_tokens,
            "input-tokens": input_tokens,
            "output-tokens": output_tokens,
        }
        for kind, n in used.items():
            self.remaining[kind] = max(self.remaining[kind] - n, 0)

    def headers(self) -> dict[str, str]:
        reset = (datetime.now(UTC) + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {"request-id": request_id()}
        for kind in RATE_LIMIT_KINDS:
            headers[f"anthropic-ratelimit-{kind}-limit"] = str(self.limit[kind])
            headers[f"anthropic-ratelimit-{kind}-remaining"] = str(self.remaining[kind])
            headers[f"anthropic-ratelimit-{kind}-reset"] = reset
        return headers
