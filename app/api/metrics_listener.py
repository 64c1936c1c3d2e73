"""/metrics on a port of its own (SRE_AI_METRICS_PORT): a second uvicorn server on the same
event loop, started and stopped by the app's lifespan.

Why a port of its own: the exposition shows spend, budgets and refusals; on the API port it goes
wherever the public Service (or an Ingress) goes. On its own port the chart can keep it off the
public Service and let only the monitoring namespace in (its NetworkPolicy).

Why a second uvicorn server in this process, not prometheus_client's `start_http_server`: the
exposition first refreshes the gauges read from the shared ledger (`Runtime.refresh_gauges`, a
coroutine on this loop); prometheus_client's server runs in a thread and would serve them stale.
One process per pod (app/cli.py refuses more workers) means one listener per pod, so every
replica an HPA adds is one more scrape target of its own, as on the API port.

The socket is bound before anything is served: a port already in use fails the start-up with
the variable's name, and a scrape that arrives while uvicorn is starting waits in the backlog.
The server leaves signals to the main server (SIGTERM stops the main server, whose lifespan
stops this one, last: a scrape during the drain still answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.api.routes.metrics import exposition
from app.errors import ConfigurationError
from app.runtime import Runtime

log = logging.getLogger("app.metrics_listener")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the main server owns SIGTERM/SIGINT


def metrics_app(runtime: Callable[[], Runtime]) -> Starlette:
    """GET /metrics and nothing else (404)."""

    async def metrics(_: Request) -> Response:
        return await exposition(runtime())

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])


class MetricsListener:
    def __init__(self, runtime: Callable[[], Runtime], host: str, port: int) -> None:
        self._app = metrics_app(runtime)
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            sock = socket.create_server((self._host, self._port), reuse_port=False)
        except OSError as exc:
            error = ConfigurationError(
                f"SRE_AI_METRICS_PORT={self._port}: cannot listen on {self._host}:{self._port} "
                f"for /metrics ({exc.strerror})", setting="SRE_AI_METRICS_PORT",
                fix="choose a free port other than the API's, or unset it (/metrics is then "
                    "served on the API port)")
            # one line naming the variable and the fix, before uvicorn's traceback of the
            # failed start-up
            log.error(f"configuration error: {error.detail}; fix: {error.fix}",
                      extra={"fields": {"setting": error.setting, "fix": error.fix}})
            raise error from None
        config = uvicorn.Config(self._app, lifespan="off", log_config=None, access_log=False,
                                timeout_graceful_shutdown=5)
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]),
                                         name="metrics-listener")
        log.info("serving /metrics on its own port",
                 extra={"fields": {"host": self._host, "port": self._port}})

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None
