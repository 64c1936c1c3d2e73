"""`sre-ai-platform check` validates environment, policy, runbooks, ledger and (with
--check-key) the API key without serving: one line per check, exit 0 when all pass, 78
(EX_CONFIG) when one fails. The real CLI as a process; the key against the fake Anthropic API
(which refuses any key but its own with 401), the ledger against a real redis-server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.anthropic_control import fake_anthropic_process
from tests.fakes.fixtures import FAKE_API_KEY
from tests.fakes.redis_server import (
    RedisServer,
    free_port,
    redis_server,  # noqa: F401 - fixture
)
from tests.fakes.service_process import REPO_ROOT
from tests.integration.kube_api_server import FakeKubeAPI, configmap

pytestmark = pytest.mark.integration
EX_CONFIG = 78


def check(env: dict[str, str], workdir: Path, *args: str) -> tuple[int, dict[str, str]]:
    """Exit code, and each check's line by name (`ok`/`FAIL`/`skip`/`warn` + text)."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
             "PYTHONPATH": str(REPO_ROOT),
             "SRE_AI_LEDGER_PATH": str(workdir / "ledger.sqlite3"), **env}
    done = subprocess.run([sys.executable, "-m", "app.cli", "check", *args], cwd=workdir,
                          env=clean, capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    lines: dict[str, str] = {}
    for line in done.stdout.splitlines():
        status, name, text = line.split(None, 2)
        key = name if status != "warn" else f"warn:{text.split()[0]}"
        lines[key] = f"{status} {text}"
    return done.returncode, lines


def test_a_good_configuration_passes_every_check_without_serving(tmp_path: Path) -> None:
    code, lines = check({}, tmp_path)
    assert code == 0, lines
    assert set(lines) == {"environment", "policy", "runbooks", "ledger", "key"}
    assert lines["environment"].startswith("ok ")
    assert lines["policy"].startswith("ok built-in default")
    assert lines["runbooks"].startswith("ok ") and "runbooks from" in lines["runbooks"]
    assert lines["ledger"] == (f"ok sqlite {tmp_path / 'ledger.sqlite3'}, "
                               f"spool {tmp_path / 'spool'}")
    assert not (tmp_path / "spool").exists()  # checked, not created
    assert lines["key"].startswith("skip ")  # no network unless asked


def _bad_policy(workdir: Path) -> dict[str, str]:
    (workdir / "policy.yaml").write_text("budgets:\n  daily_usd: lots\n")
    return {"SRE_AI_POLICY_FILE": str(workdir / "policy.yaml")}


def _empty_runbooks(workdir: Path) -> dict[str, str]:
    (workdir / "runbooks").mkdir()
    return {"SRE_AI_RUNBOOKS_DIR": str(workdir / "runbooks")}


FAILURES: dict[str, tuple[Callable[[Path], dict[str, str]], str]] = {
    "environment": (lambda w: {"SRE_AI_LOG_LEVEL": "verbose"}, "SRE_AI_LOG_LEVEL: "),
    "policy": (_bad_policy, "SRE_AI_POLICY_FILE: invalid policy from file:"),
    "runbooks": (_empty_runbooks, "SRE_AI_RUNBOOKS_DIR: no runbook indexed"),
    "ledger": (lambda w: {"SRE_AI_LEDGER_PATH": str(w)}, "SRE_AI_LEDGER_PATH: cannot open"),
}


@pytest.mark.parametrize("failing", list(FAILURES))
def test_each_failing_check_is_named_and_the_exit_code_says_so(
    failing: str, tmp_path: Path
) -> None:
    env_for, expected = FAILURES[failing]
    code, lines = check(env_for(tmp_path), tmp_path)
    assert code == EX_CONFIG, lines
    assert lines[failing].startswith(f"FAIL {expected}"), lines
    assert "(fix: " in lines[failing]
    others = {k: v for k, v in lines.items() if k != failing}
    assert all(not v.startswith("FAIL") for v in others.values()), lines


def test_a_policy_field_error_names_the_field(tmp_path: Path) -> None:
    _, lines = check(_bad_policy(tmp_path), tmp_path)
    assert "budgets.daily_usd:" in lines["policy"]


def test_an_unreachable_redis_fails_the_ledger_check_without_its_password(
    tmp_path: Path, redis_server: RedisServer  # noqa: F811
) -> None:
    code, lines = check({"SRE_AI_REDIS_URL": redis_server.url}, tmp_path)
    assert code == 0 and lines["ledger"].startswith("ok redis redis://"), lines
    port = free_port()
    code, lines = check({"SRE_AI_REDIS_URL": f"redis://:pa55word@127.0.0.1:{port}/0"},
                        tmp_path)
    assert code == EX_CONFIG
    assert lines["ledger"].startswith(
        f"FAIL SRE_AI_REDIS_URL: Redis ledger redis://:***@127.0.0.1:{port}/0 is unreachable")
    assert "pa55word" not in lines["ledger"]


def test_the_key_check_asks_the_api_and_never_prints_the_key(tmp_path: Path) -> None:
    wrong = "sk-ant-api03-WRONG-check-key-0123456789abcdefghijklmnopqrstuv"
    with fake_anthropic_process("--api-key", FAKE_API_KEY) as (url, _fake):
        env = {"ANTHROPIC_BASE_URL": url}
        code, lines = check({**env, "ANTHROPIC_API_KEY": FAKE_API_KEY}, tmp_path, "--check-key")
        assert code == 0, lines
        assert lines["key"] == "ok the Anthropic API accepts ANTHROPIC_API_KEY"
        code, lines = check({**env, "ANTHROPIC_API_KEY": wrong}, tmp_path, "--check-key")
    assert code == EX_CONFIG
    assert lines["key"].startswith("FAIL ANTHROPIC_API_KEY: Anthropic API 401"), lines
    assert "put a valid key in the Secret" in lines["key"]
    assert wrong not in str(lines)


def test_a_misspelled_variable_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    code, lines = check({"SRE_AI_RUNBOOK_DIR": "/nowhere"}, tmp_path)
    assert code == 0
    assert "did you mean SRE_AI_RUNBOOKS_DIR?" in lines["warn:SRE_AI_RUNBOOK_DIR"]


def _kubeconfig(workdir: Path, server: str) -> str:
    path = workdir / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
        f"clusters:\n- name: fake\n  cluster:\n    server: {server}\n"
        "users:\n- name: fake\n  user: {}\n"
        "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n")
    return str(path)


def test_the_kubernetes_source_is_checked_by_reading_the_configmap(tmp_path: Path) -> None:
    good = "budgets:\n  hourly_usd: 2\n"
    with FakeKubeAPI(configmap("ops", "sre-ai-policy", good, "7")) as kube:
        env = {"SRE_AI_POLICY_SOURCE": "kubernetes", "SRE_AI_POLICY_CONFIGMAP":
               "ops/sre-ai-policy", "KUBECONFIG": _kubeconfig(tmp_path, kube.url)}
        code, lines = check(env, tmp_path)
        assert code == 0, lines
        assert lines["policy"].startswith("ok configmap:ops/sre-ai-policy@7")
        kube.current = configmap("ops", "sre-ai-policy", "budgets:\n  hourly_usd: -1\n", "8")
        code, lines = check(env, tmp_path)
    assert code == EX_CONFIG
    assert lines["policy"].startswith(
        "FAIL SRE_AI_POLICY_CONFIGMAP: invalid policy from configmap:ops/sre-ai-policy@8: "
        "budgets.hourly_usd:"), lines
