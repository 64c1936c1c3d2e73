"""A client's X-Request-ID is kept only when the whole of it is a plain id; anything else (a
newline that would start a forged log line, a huge value) gets an id of ours."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from app.api.middleware import RequestContextMiddleware
from app.logs import request_id_var
from app.metrics import Metrics


async def request_id_for(header: bytes) -> str:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(str(request_id_var.get()))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        pass

    middleware = RequestContextMiddleware(app, metrics=Metrics(CollectorRegistry()),
                                          max_body_bytes=1024)
    await middleware({"type": "http", "method": "GET", "path": "/health/live",
                      "headers": [(b"x-request-id", header)]}, receive, send)
    return seen[0]


@pytest.mark.parametrize(("header", "kept"), [
    (b"rid-1", True),
    (b"trace:0af7651916cd43dd8448eb211c80319c", True),
    (b"abc\n", False),  # a trailing newline: `$` matched before it
    (b"a" * 129, False),
    (b"has space", False),
])
async def test_an_incoming_request_id_is_kept_only_when_it_is_all_plain(
        header: bytes, kept: bool) -> None:
    rid = await request_id_for(header)
    assert (rid == header.decode()) is kept
    assert "\n" not in rid
