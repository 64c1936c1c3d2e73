"""FastAPI's OpenTelemetry bridge asks, per request, whether a provider is configured (issue
14: 6 us a request). Only an OpenTelemetry SDK configures one; the image ships none, so the
bridge is off there and FastAPI's default wherever an SDK is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from prometheus_client import CollectorRegistry

from app import main
from app.config import Settings


def _asked_for_a_provider(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> int:
    asked: list[int] = []
    original = trace.get_tracer_provider

    def counting() -> Any:
        asked.append(1)
        return original()

    monkeypatch.setattr(trace, "get_tracer_provider", counting)
    app = main.create_app(Settings(ledger_path=tmp_path / "ledger.sqlite3"),
                          registry=CollectorRegistry())
    client = TestClient(app)  # no lifespan: the document needs none
    for _ in range(3):
        assert client.get("/openapi.json").status_code == 200
    return len(asked)


def test_without_an_sdk_no_request_asks_opentelemetry_for_a_provider(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    assert importlib.util.find_spec("opentelemetry.sdk") is None  # as in the image
    assert _asked_for_a_provider(monkeypatch, tmp_path) == 0


@pytest.mark.usefixtures("opentelemetry_sdk_installed")
def test_with_an_sdk_installed_fastapi_keeps_its_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    assert main._fastapi_telemetry() is None
    assert _asked_for_a_provider(monkeypatch, tmp_path) >= 3
