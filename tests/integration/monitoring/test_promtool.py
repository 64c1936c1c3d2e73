"""promtool on the rules, their unit tests, every dashboard query, and prometheus.yml."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.monitoring import assets

pytestmark = pytest.mark.integration


def run(*args: str) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"{' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def test_check_rules(promtool: str) -> None:
    out = run(promtool, "check", "rules", str(assets.RULE_FILE))
    assert f"SUCCESS: {len(assets.rules())} rules found" in out


def test_unit_tests_of_every_alert_pass(promtool: str) -> None:
    files = sorted(assets.PROMTOOL_TESTS.glob("*.yaml"))
    assert files
    out = run(promtool, "test", "rules", *map(str, files))
    assert out.count("SUCCESS") == len(files), out


def test_every_expression_parses(promtool: str, tmp_path: Path) -> None:
    """promtool 2.42 has no parse command: each expression becomes a recording rule of its own
    file, and `promtool check rules` parses it (and names the query on failure)."""
    queries = assets.rule_queries() + assets.dashboard_queries()
    doc = {"groups": [{"name": "parse", "rules": [
        {"record": f"parse:query_{i}:check", "expr": q.expr} for i, q in enumerate(queries)]}]}
    path = tmp_path / "queries.rules.yaml"
    path.write_text(yaml.safe_dump(doc))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=120, check=False)
    if proc.returncode != 0:
        for i, q in enumerate(queries):
            assert f"query_{i}:" not in proc.stdout + proc.stderr, f"{q.where}:\n{q.expr}"
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_prometheus_config_is_valid(promtool: str, tmp_path: Path) -> None:
    """prometheus.yml of the compose stack, with its rule path pointed at the repo's rules."""
    config = yaml.safe_load((assets.REPO_ROOT / "prometheus.yml").read_text())
    config["rule_files"] = [str(assets.RULES_COPY / "*.rules.yaml")]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    run(promtool, "check", "config", str(path))
