"""A local Slack-compatible webhook receiver (aiohttp, loopback) for delivery tests.

`async with WebhookReceiver() as hook:` listens on a free port; `hook.url` (with a secret-looking
path and query, so tests can check it never reaches a log). It records every POST (JSON body and
headers) and answers 200, unless replies were queued with `hook.reply(status, retry_after=...)`
or `hook.hang()` (the next request waits until the test's client gives up). `stop()` and
`start()` take it down and bring it back on the same port ("receiver down, then up").
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

SECRET_PATH = "/services/T0FAKE/B0FAKE/s3cr3t-webhook-path-token"
SECRET_QUERY = "token=s3cr3t-query-token"


@dataclass(frozen=True)
class Received:
    body: dict[str, Any]
    headers: dict[str, str]


class WebhookReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.requests = 0  # every request, answered or not
        self._replies: deque[tuple[int, str | None] | None] = deque()
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}{SECRET_PATH}?{SECRET_QUERY}"

    def reply(self, status: int, *, retry_after: str | None = None, times: int = 1) -> None:
        self._replies.extend([(status, retry_after)] * times)

    def hang(self) -> None:
        self._replies.append(None)

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post(SECRET_PATH, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        server = site._server
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            self._release.set()
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        reply = self._replies.popleft() if self._replies else (200, None)
        if reply is None:
            await self._release.wait()
            return web.Response(status=200, text="late")
        status, retry_after = reply
        if status == 200:
            self.received.append(Received(await request.json(), dict(request.headers)))
            return web.Response(status=200, text="ok")
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return web.Response(status=status, text="no", headers=headers)

    async def __aenter__(self) -> WebhookReceiver:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
