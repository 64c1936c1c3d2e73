"""An unhandled error, served by a real uvicorn: the 500 carries the request id (body and
header) and the traceback is logged exactly once, as one JSON line with that id.

The failing route is registered here, on the app create_app builds; product code has none."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from app.config import Settings
from app.logs import JsonFormatter
from app.main import create_app
from tests.fakes.service_process import free_port

pytestmark = pytest.mark.integration


def _app(tmp_path: Path) -> FastAPI:
    app = create_app(Settings(ledger_path=tmp_path / "ledger.sqlite3", log_format="json"))

    @app.get("/test-only/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal state")

    return app


async def _serve(app: FastAPI) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)  # polling a condition, not timing
    return server, task, f"http://127.0.0.1:{port}"


class _JsonLines(logging.Handler):
    """Formats each record with the service's JsonFormatter when it is emitted (while the
    request's context is current), like the stdout handler does."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_500_has_request_id_in_body_and_header_and_one_traceback_line(
    tmp_path: Path,
) -> None:
    app = _app(tmp_path)
    captured = _JsonLines()
    root = logging.getLogger()
    root.addHandler(captured)
    try:
        server, task, url = await _serve(app)
        try:
            async with httpx.AsyncClient(base_url=url) as client:
                mine = await client.get("/test-only/boom", headers={"X-Request-ID": "rid-500"})
                fresh = await client.get("/test-only/boom")
                assert (await client.get("/health/live")).status_code == 200  # still serving
        finally:
            server.should_exit = True
            await task
    finally:
        root.removeHandler(captured)

    assert mine.status_code == 500
    assert mine.json() == {"error": "internal_error",
                           "detail": "unexpected error; see the service log",
                           "request_id": "rid-500"}
    assert mine.headers["x-request-id"] == "rid-500"
    assert "secret" not in mine.text
    generated = fresh.headers["x-request-id"]
    assert fresh.status_code == 500 and len(generated) == 32
    assert fresh.json()["request_id"] == generated

    # exactly one traceback per failed request (uvicorn no longer logs it a second time)
    tracebacks = [line for line in captured.lines if "exc" in line]
    assert [(t["logger"], t.get("request_id")) for t in tracebacks] == [
        ("app.errors", "rid-500"), ("app.errors", generated)], tracebacks
    assert all("RuntimeError: secret internal state" in t["exc"] for t in tracebacks)
    # and the request's summary line still says 500
    summaries = [line for line in captured.lines
                 if line["msg"] == "request" and line.get("endpoint") == "/test-only/boom"]
    assert [(s["status"], s["request_id"]) for s in summaries] == [
        (500, "rid-500"), (500, generated)]
