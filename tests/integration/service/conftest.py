from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.service_process import ServiceProcess


@pytest.fixture(scope="module")
def offline_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One service on the offline default, shared by the tests of a module that only read
    or use their own questions (starting a process costs seconds)."""
    svc = ServiceProcess({}, tmp_path_factory.mktemp("offline"), name="offline")
    svc.start()
    yield svc
    svc.stop()
