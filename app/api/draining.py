"""Shutdown drain: readiness fails from the moment the process is told to stop, before the
listener closes (docs/cluster.md, "Upgrades").

`sre-ai-platform` (app/cli.py) runs uvicorn through `DrainingServer`. On the first SIGTERM or
SIGINT it marks the app draining, so `/health/ready` answers 503 `status: draining`, keeps
accepting for `drain_seconds` (the `--drain-seconds` flag, default 0), and only then lets
uvicorn close the listener. uvicorn then waits for the requests in flight (up to
`timeout_graceful_shutdown`) and their paid calls settle before the lifespan stops. A second
signal stops at once, as uvicorn does.

On Kubernetes the pod's `preStop` sleep already keeps the listener open while endpoints forget
a terminating pod (the endpoints controller drops it when deletion starts, whatever the probe
says), so the chart leaves `--drain-seconds` at 0. Outside Kubernetes (a load balancer that
only follows the readiness check), `--drain-seconds` longer than its check interval times its
failure threshold does the same job.
"""

from __future__ import annotations

import time
from types import FrameType

import uvicorn


class Draining:
    """Set once, when shutdown begins; read by the readiness check."""

    def __init__(self) -> None:
        self.active = False

    def begin(self) -> None:
        self.active = True


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, draining: Draining,
                 drain_seconds: float = 0.0) -> None:
        super().__init__(config)
        self.draining = draining
        self.drain_seconds = drain_seconds
        self._close_at: float | None = None
        self._signal = 0

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.draining.active:
            self.draining.begin()  # readiness fails first: the listener is still open
            if self.drain_seconds > 0:
                self._close_at = time.monotonic() + self.drain_seconds
                self._signal = sig
                return
        super().handle_exit(sig, frame)  # a second signal: at once (then forced, as uvicorn)

    async def on_tick(self, counter: int) -> bool:
        if self._close_at is not None and time.monotonic() >= self._close_at:
            self._close_at = None
            super().handle_exit(self._signal, None)  # recorded: uvicorn re-raises it at exit
        return await super().on_tick(counter)
