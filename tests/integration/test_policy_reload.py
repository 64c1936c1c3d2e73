"""The real service under uvicorn, its policy and runbooks on kubelet-style ConfigMap volumes:
edits are applied without a restart, a bad edit is rejected visibly, requests keep flowing."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.service_process import REPO_ROOT, ServiceProcess, wait_until
from tests.unit.config_watch.kubelet_volume import ConfigMapVolume
from tests.unit.config_watch.policies import INVALID_BUDGET, policy_yaml

pytestmark = pytest.mark.integration

Start = Callable[..., ServiceProcess]
RELOAD_TIMEOUT_SECONDS = 10.0


def bundled_runbooks() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((REPO_ROOT / "runbooks").glob("*.md"))}


@pytest.fixture
def volumes(tmp_path: Path) -> tuple[ConfigMapVolume, ConfigMapVolume]:
    policy = ConfigMapVolume(tmp_path / "etc" / "policy", {"policy.yaml": policy_yaml(10)})
    runbooks = ConfigMapVolume(tmp_path / "etc" / "runbooks", bundled_runbooks())
    return policy, runbooks


@pytest.fixture
def service(service_factory: Start,
            volumes: tuple[ConfigMapVolume, ConfigMapVolume]) -> ServiceProcess:
    policy, runbooks = volumes
    return service_factory({
        "SRE_AI_POLICY_FILE": str(policy.path("policy.yaml")),
        "SRE_AI_RUNBOOKS_DIR": str(runbooks.root),
        "SRE_AI_WATCH_INTERVAL_SECONDS": "0.1",
    })


def ready(svc: ServiceProcess) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(svc.url + "/health/ready", timeout=5).json()
    return body


def metric(svc: ServiceProcess, series: str) -> float | None:
    for line in httpx.get(svc.url + "/metrics", timeout=5).text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_for_policy(svc: ServiceProcess, check: Callable[[dict[str, Any]], bool],
                    what: str) -> dict[str, Any]:
    wait_until(lambda: check(ready(svc)["policy"]), timeout=RELOAD_TIMEOUT_SECONDS, what=what)
    policy: dict[str, Any] = ready(svc)["policy"]
    return policy


def test_an_edit_is_applied_without_a_restart_and_a_bad_one_is_rejected(
        service: ServiceProcess, volumes: tuple[ConfigMapVolume, ConfigMapVolume]) -> None:
    policy_volume, _ = volumes
    assert service.proc is not None
    pid = service.proc.pid
    first = ready(service)["policy"]
    assert first["generation"] == 1 and first["last_error"] is None

    policy_volume.update({"policy.yaml": policy_yaml(hourly_usd=3)})
    second = wait_for_policy(service, lambda p: p["generation"] == 2, "the edit to apply")
    assert second["hash"] != first["hash"]
    h = second["hash"]
    assert metric(service, f'ai_config_info{{generation="2",hash="{h}",kind="policy"}}') == 1
    assert metric(service, 'ai_budget_limit_usd{window="hourly"}') in (None, 3.0)

    policy_volume.update({"policy.yaml": INVALID_BUDGET})
    rejected = wait_for_policy(service, lambda p: p["last_error"] is not None, "the rejection")
    assert "budgets.hourly_usd" in rejected["last_error"]
    assert (rejected["generation"], rejected["hash"]) == (2, second["hash"])  # last good stays
    assert metric(service, 'ai_config_reloads_total{kind="policy",result="error"}') == 1
    lines = [json.loads(line) for line in service.logs().splitlines() if line.startswith("{")]
    assert any(rec.get("result") == "rejected" and "budgets.hourly_usd" in rec.get("reason", "")
               for rec in lines)
    # ...and the service keeps serving under the last good policy.
    assert httpx.post(service.url + "/ask", json={"question": "pod OOMKilled"}).status_code == 200

    policy_volume.update({"policy.yaml": policy_yaml(hourly_usd=3)})  # the fix
    fixed = wait_for_policy(service, lambda p: p["last_error"] is None, "the recovery")
    assert fixed["generation"] == 2
    assert service.proc.pid == pid and service.proc.poll() is None


def test_answers_keep_flowing_during_50_rapid_reloads(
        service: ServiceProcess, volumes: tuple[ConfigMapVolume, ConfigMapVolume]) -> None:
    policy_volume, _ = volumes
    questions = ["pod OOMKilled, what now?", "circuit breaker open", "budget exhausted",
                 "service down", "latency high"]

    def ask(i: int) -> int:
        q = questions[i % len(questions)]
        return httpx.post(service.url + "/ask", json={"question": q}, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [pool.submit(ask, i) for i in range(50)]
        for i in range(1, 51):
            # Alternate a valid document with an invalid one every tenth swap.
            text = INVALID_BUDGET if i % 10 == 5 else policy_yaml(hourly_usd=100 + i)
            policy_volume.update({"policy.yaml": text})
            answers.append(pool.submit(ask, i))
        statuses = [a.result() for a in answers]

    assert statuses == [200] * len(statuses)
    final = wait_for_policy(service, lambda p: p["last_error"] is None and p["generation"] > 1,
                            "the last document")
    assert final["origin"].startswith("file:")
    assert "Traceback" not in service.logs()


def test_a_runbook_added_through_the_swap_is_searchable(
        service: ServiceProcess, volumes: tuple[ConfigMapVolume, ConfigMapVolume]) -> None:
    _, runbook_volume = volumes
    before = ready(service)["runbooks"]
    question = {"question": "quokka gateway flux capacitor overheating"}
    assert "quokka-gateway" not in httpx.post(service.url + "/ask", json=question).json()[
        "sources"]

    runbook_volume.update({
        **bundled_runbooks(),
        "quokka-gateway.md": "# Quokka gateway overheating\n\n## Mitigation\n"
                             "When the quokka gateway flux capacitor overheats, "
                             "drain the quokka gateway and restart the flux capacitor.\n",
    })
    wait_until(lambda: ready(service)["runbooks"]["count"] == before["count"] + 1,
               timeout=RELOAD_TIMEOUT_SECONDS, what="the runbook re-index")
    body = httpx.post(service.url + "/ask", json=question).json()
    assert "quokka-gateway" in body["sources"]
