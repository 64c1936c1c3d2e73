"""create_app(settings) and the lifespan. Nothing runs at import time: `uvicorn app.main:app`
resolves `app` lazily through the module __getattr__ below."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from app.gc_tuning import collector_paused, tune_collector

# Everything the service imports (~4,000 modules, the anthropic SDK's ~3,200 among them) is
# imported without the cyclic garbage collector, then frozen: 25 % less CPU to start
# (app/gc_tuning.py). Both ways of starting it, `sre-ai-platform` and `uvicorn app.main:app`,
# get nearly all of their imports through this block.
with collector_paused():
    from fastapi import FastAPI
    from fastapi.telemetry import TelemetryConfig
    from prometheus_client import CollectorRegistry

    from app.api.draining import Draining
    from app.api.errors import install_error_handlers
    from app.api.load_shedding import InFlightLimit
    from app.api.metrics_listener import MetricsListener
    from app.api.middleware import RequestContextMiddleware
    from app.api.routes import alerts, ask, health, ops
    from app.api.routes import metrics as metrics_route
    from app.clock import Clock, SystemClock
    from app.config import Settings
    from app.config.environment import load_settings
    from app.logs import configure_logging
    from app.metrics import Metrics
    from app.opentelemetry_sdk import sdk_installed
    from app.runtime import VERSION, Runtime

def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
    draining: Draining | None = None,
) -> FastAPI:
    settings = settings or load_settings()  # a bad variable is named (ConfigurationError)
    clock = clock or SystemClock()
    metrics = Metrics(registry if registry is not None else CollectorRegistry())
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.build(settings, clock, metrics)
        app.state.runtime = runtime
        await runtime.start()
        listener = None
        restore_collector = tune_collector(settings.gc_young_threshold)
        try:
            if settings.metrics_port is not None:
                listener = MetricsListener(lambda: runtime, settings.metrics_host,
                                           settings.metrics_port)
                await listener.start()
            yield
        finally:
            restore_collector()  # first: whatever the stops below raise
            if listener is not None:
                await listener.stop()
            await runtime.stop()

    app = FastAPI(title="sre-ai-platform", version=VERSION, lifespan=lifespan,
                  telemetry=_fastapi_telemetry())
    app.state.draining = draining or Draining()  # set by the server on SIGTERM (app/cli.py)
    # Inside the request context (added first: Starlette's last-added middleware is outermost),
    # so a shed request still gets its request id, log line and metrics.
    app.add_middleware(InFlightLimit, limit=settings.max_in_flight, metrics=metrics)
    app.add_middleware(RequestContextMiddleware, metrics=metrics,
                       max_body_bytes=settings.max_body_bytes,
                       path_limits={"/alerts": settings.max_alert_body_bytes})
    install_error_handlers(app)
    for router in (ask.router, alerts.router, health.router, ops.router):
        app.include_router(router)
    if settings.metrics_port is None:  # else only on its own port: here a 404
        app.include_router(metrics_route.router)
    return app


def _fastapi_telemetry() -> TelemetryConfig | None:
    """FastAPI's OpenTelemetry bridge, on only where it can do anything.

    Per request it asks OpenTelemetry whether a tracer, meter or logger provider has been
    configured (6 us, reading environment variables each time: issue 14's profile). Only an
    OpenTelemetry SDK configures one, and the image ships none (only the API, a FastAPI
    dependency). So the bridge stays FastAPI's default when an SDK is installed (an operator
    instrumenting the service sees what FastAPI would show), and is off otherwise, where it
    always found nothing."""
    if sdk_installed():
        return None
    return {"tracing": False, "metrics": False, "logs": False}


def __getattr__(name: str) -> Any:
    if name == "app":
        return create_app()
    raise AttributeError(name)
