"""Fixtures of the monitoring tests: the Prometheus binaries, and one live run shared by the
live tests (it takes a minute: starting it once is the point)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tests.fakes.anthropic_control import fake_anthropic_process
from tests.fakes.fixtures import FAKE_API_KEY
from tests.fakes.service_process import ServiceProcess, wait_until
from tests.integration.monitoring import assets
from tests.integration.monitoring.prometheus_process import (
    PrometheusProcess,
    binary,
    compress_for,
)
from tests.integration.monitoring.scenario import (
    JOB,
    LiveRun,
    write_policy,
)

INSTALL_HINT = "apt-get install -y prometheus (Debian's package ships promtool too)"


@pytest.fixture(scope="session")
def promtool() -> str:
    path = binary("promtool")
    if path is None:
        pytest.skip(f"promtool not found: {INSTALL_HINT}")
    return path


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    path = binary("prometheus")
    if path is None:
        pytest.skip(f"prometheus not found: {INSTALL_HINT}")
    return path


@pytest.fixture(scope="module")
def live(prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    workdir = tmp_path_factory.mktemp("monitoring-live")
    policy_path = workdir / "policy.yaml"
    write_policy(policy_path)
    with fake_anthropic_process() as (fake_url, fake), contextlib.ExitStack() as stack:
        service = ServiceProcess({
            "ANTHROPIC_API_KEY": FAKE_API_KEY,
            "ANTHROPIC_BASE_URL": fake_url,
            "SRE_AI_POLICY_FILE": str(policy_path),
            "SRE_AI_WATCH_INTERVAL_SECONDS": "0.2",
        }, workdir, name="service")
        stack.callback(service.stop)
        service.start()
        rules = compress_for(assets.RULE_FILE, workdir / "rules.yaml")
        prometheus = PrometheusProcess(workdir, job=JOB, target=f"127.0.0.1:{service.port}",
                                       rule_files=[rules])
        stack.callback(prometheus.stop)
        prometheus.start(prometheus_binary)
        wait_until(prometheus.targets_up, timeout=30, what="the service scraped", interval=0.25)
        run = LiveRun(workdir, fake, service, prometheus, policy_path)
        run.run()
        yield run
