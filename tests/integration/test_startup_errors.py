"""Every configuration error at start-up is ONE log line (JSON or console, as configured) that
names the variable or the policy field and what would fix it, then exit 78 (EX_CONFIG): never a
traceback, and the port is never bound. Unknown SRE_AI_* variables are warned about, with the
closest known name. The real CLI, as a process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.service_process import REPO_ROOT

pytestmark = pytest.mark.integration
EX_CONFIG = 78


@pytest.fixture
def taken_port() -> Iterator[int]:
    """Were the server to start anyway, it would fail fast on this port instead of hanging."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def serve(env: dict[str, str], workdir: Path, port: int) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
             "PYTHONPATH": str(REPO_ROOT),
             "SRE_AI_LEDGER_PATH": str(workdir / "ledger.sqlite3"), **env}
    return subprocess.run([sys.executable, "-m", "app.cli", "--port", str(port)], cwd=workdir,
                          env=clean, capture_output=True, text=True, timeout=120, check=False)


def output_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def one_json_error(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.returncode == EX_CONFIG, done.stdout + done.stderr
    lines = output_lines(done)
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    record: dict[str, object] = json.loads(lines[0])
    assert record["level"] == "error" and record["exit_code"] == EX_CONFIG
    assert record["fix"]
    return record


def _bad_policy(workdir: Path) -> dict[str, str]:
    policy = workdir / "policy.yaml"
    policy.write_text("budgets:\n  hourly_usd: -3\nllm:\n  timeout_secs: 5\n")
    return {"SRE_AI_POLICY_FILE": str(policy)}


def _ledger_under_a_file(workdir: Path) -> dict[str, str]:
    (workdir / "a-file").write_text("")
    return {"SRE_AI_LEDGER_PATH": str(workdir / "a-file" / "ledger.sqlite3")}


CASES: dict[str, tuple[Callable[[Path], dict[str, str]], str, list[str]]] = {
    "log level": (lambda w: {"SRE_AI_LOG_LEVEL": "verbose"}, "SRE_AI_LOG_LEVEL",
                  ["'verbose'", "DEBUG, INFO, WARNING, ERROR, CRITICAL"]),
    "kubernetes without configmap": (
        lambda w: {"SRE_AI_POLICY_SOURCE": "kubernetes"}, "SRE_AI_POLICY_CONFIGMAP",
        ["'namespace/name'"]),
    "invalid policy": (_bad_policy, "SRE_AI_POLICY_FILE",
                       ["budgets.hourly_usd", "llm.timeout_secs: unknown field"]),
    "missing policy file": (lambda w: {"SRE_AI_POLICY_FILE": str(w / "nope.yaml")},
                            "SRE_AI_POLICY_FILE", ["cannot read policy file", "readable"]),
    "ledger path under a file": (_ledger_under_a_file, "SRE_AI_LEDGER_PATH",
                                 ["File exists"]),
    "ledger path is a directory": (lambda w: {"SRE_AI_LEDGER_PATH": str(w)},
                                   "SRE_AI_LEDGER_PATH", ["unable to open database file"]),
    "spool dir under a file": (
        lambda w: {**_ledger_under_a_file(w), "SRE_AI_LEDGER_PATH": str(w / "l.sqlite3"),
                   "SRE_AI_SPOOL_DIR": str(w / "a-file" / "spool")},
        "SRE_AI_SPOOL_DIR", ["a-file is not a directory"]),
    "not a number": (lambda w: {"SRE_AI_MAX_BODY_BYTES": "16k"}, "SRE_AI_MAX_BODY_BYTES",
                     ["'16k'", "integer"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_configuration_error_is_one_line_naming_the_setting(
    case: str, tmp_path: Path, taken_port: int
) -> None:
    env_for, setting, details = CASES[case]
    record = one_json_error(serve(env_for(tmp_path), tmp_path, taken_port))
    assert str(record["setting"]).startswith(setting)
    msg = str(record["msg"])
    assert setting in msg
    for detail in details:
        assert detail in msg, msg


def test_the_error_line_follows_the_console_format(tmp_path: Path, taken_port: int) -> None:
    done = serve({"SRE_AI_LOG_FORMAT": "console", "SRE_AI_LOG_LEVEL": "verbose"}, tmp_path,
                 taken_port)
    assert done.returncode == EX_CONFIG
    lines = output_lines(done)
    assert len(lines) == 1 and not lines[0].startswith("{")
    assert " ERROR " in lines[0] and "SRE_AI_LOG_LEVEL" in lines[0] and "fix:" in lines[0]


def test_a_secret_is_never_echoed(tmp_path: Path, taken_port: int) -> None:
    done = serve({"SRE_AI_API_KEYS": "", "SRE_AI_ALERT_WEBHOOK_URL": "https://hooks/T0/SECRET",
                  "SRE_AI_ALERT_WEBHOOK_URL_FILE": str(tmp_path / "url")}, tmp_path, taken_port)
    record = one_json_error(done)
    assert "SRE_AI_ALERT_WEBHOOK_URL" in str(record["setting"])
    assert "SECRET" not in done.stdout + done.stderr


def test_a_misspelled_variable_is_warned_about_with_a_suggestion(
    tmp_path: Path, taken_port: int
) -> None:
    done = serve({"SRE_AI_LOG_LEVL": "DEBUG", "SRE_AI_NOT_A_THING": "1",
                  **_ledger_under_a_file(tmp_path)}, tmp_path, taken_port)
    assert done.returncode == EX_CONFIG
    records = [json.loads(line) for line in output_lines(done)]
    warnings = {r["setting"]: r for r in records if r["level"] == "warning"}
    assert warnings["SRE_AI_LOG_LEVL"]["did_you_mean"] == "SRE_AI_LOG_LEVEL"
    assert "did you mean SRE_AI_LOG_LEVEL?" in warnings["SRE_AI_LOG_LEVL"]["msg"]
    assert warnings["SRE_AI_NOT_A_THING"]["did_you_mean"] is None
    assert [r["level"] for r in records][-1] == "error"
