"""Shared fixtures. The fakes live in tests/fakes; each layer's conftest adds its own."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.fakes.fixtures import fake_anthropic  # noqa: F401 - re-exported fixture
from tests.fakes.service_process import ServiceProcess


@pytest.fixture
def opentelemetry_sdk_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if an OpenTelemetry SDK were installed (app/opentelemetry_sdk.py looks for
    `opentelemetry.sdk`); the image and the test venv have only the API."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: (
        object() if name == "opentelemetry.sdk" else real(name, *a)))


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Start real service processes (uvicorn) with the given environment; all are stopped
    at the end of the test."""
    started: list[ServiceProcess] = []

    def start(env: Mapping[str, str] | None = None, **kw: object) -> ServiceProcess:
        svc = ServiceProcess(env or {}, tmp_path, name=f"svc{len(started)}", **kw)  # type: ignore[arg-type]
        started.append(svc)
        return svc.start()

    yield start
    for svc in started:
        svc.stop()
