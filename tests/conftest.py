"""Shared fixtures. The fakes live in tests/fakes; each layer's conftest adds its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.fakes.fixtures import fake_anthropic  # noqa: F401 - re-exported fixture
from tests.fakes.service_process import ServiceProcess


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
