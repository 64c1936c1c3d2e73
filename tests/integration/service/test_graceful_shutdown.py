"""SIGTERM while a paid call is in flight (issue 16, item 3), on the console script the image
runs (`sre-ai-platform`, app/cli.py) against the fake Anthropic server in its own process,
slowed so the call is still running when the signal comes.

Readiness must fail first, while the listener still accepts (`--drain-seconds`); the call in
flight must still complete 200 and be settled (the spend is in the SQLite ledger the next
process opens); the process must exit on its own, well before any SIGKILL.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import pytest

from tests.fakes.anthropic_control import fake_anthropic_process
from tests.fakes.fixtures import FAKE_API_KEY
from tests.fakes.service_process import ServiceProcess, wait_until
from tests.integration.money.conftest import policy_yaml

pytestmark = pytest.mark.integration

UPSTREAM_DELAY_SECONDS = 4.0
DRAIN_SECONDS = 2.0


def test_sigterm_fails_readiness_first_and_settles_the_call_in_flight(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_yaml(timeout_seconds=30))
    with fake_anthropic_process() as (fake_url, fake):
        env = {"ANTHROPIC_API_KEY": FAKE_API_KEY, "ANTHROPIC_BASE_URL": fake_url,
               "SRE_AI_POLICY_FILE": str(policy)}
        svc = ServiceProcess(env, tmp_path, name="draining",
                             cli_args=["--drain-seconds", str(DRAIN_SECONDS)])
        svc.start(ready_timeout=60)
        try:
            assert httpx.get(svc.url + "/health/ready", timeout=10).status_code == 200
            fake.fail(delay_seconds=UPSTREAM_DELAY_SECONDS)
            answers: list[httpx.Response] = []
            asking = threading.Thread(target=lambda: answers.append(httpx.post(
                svc.url + "/ask", json={"question": "pod OOMKilled, what now?"}, timeout=60)))
            asking.start()
            wait_until(lambda: fake.stats()["in_flight"] == 1, timeout=30,
                       what="the paid call in flight at the fake")
            assert svc.proc is not None
            svc.proc.send_signal(signal.SIGTERM)

            # Readiness fails while the listener still answers, the call still in flight.
            draining: list[httpx.Response] = []

            def refused() -> bool:
                draining.append(httpx.get(svc.url + "/health/ready", timeout=5))
                return draining[-1].status_code == 503

            wait_until(refused, timeout=10, interval=0.1, what="/health/ready 503 after SIGTERM")
            assert draining[-1].json()["shutdown"] == "draining", draining[-1].json()
            assert fake.stats()["in_flight"] == 1

            asking.join(timeout=60)
            assert answers and answers[0].status_code == 200, answers
            paid = answers[0].json()
            assert paid["cost_usd"] > 0 and paid["degraded"] is None, paid
            assert svc.proc.wait(timeout=30) in {0, -signal.SIGTERM}, svc.logs()
        finally:
            svc.stop()

    # The call was settled before the process exited: the ledger on disk has its cost.
    again = ServiceProcess({"SRE_AI_POLICY_FILE": str(policy)}, tmp_path, name="after")
    again.start(ready_timeout=60)
    try:
        windows = httpx.get(again.url + "/cost", timeout=10).json()["windows"]
    finally:
        again.stop()
    daily = next(w for w in windows if w["window"] == "daily")
    assert daily["spent_usd"] == pytest.approx(paid["cost_usd"], abs=1e-9), windows
