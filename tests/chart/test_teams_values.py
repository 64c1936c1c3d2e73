"""Teams, break-glass and admin keys through the chart (issue 17): `policy.teams`,
`policy.break_glass` and `policy.admin_keys` reach the policy ConfigMap as the service reads
them, the schema refuses what the service would refuse, and `auth.apiKeys` entries named
`team:name` become `team:name=key` lines of the keys Secret."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.api_keys import KeyIdentity, parse_keys
from app.config import parse_policy
from tests.chart.rendering import RELEASE, render, render_error

pytestmark = pytest.mark.chart

VALUES = {
    "policy": {
        "teams": {"payments": {"keys": ["payments-ci"],
                               "budgets": {"per_request_usd": 0.2, "hourly_usd": 2}},
                  "search": {"budgets": {"daily_usd": 5}}},
        "break_glass": [{"scope": "payments", "until": "2026-12-01T06:00:00Z",
                         "reason": "INC-4211", "budgets": {"hourly_usd": 8}}],
        "admin_keys": ["platform-lead"],
    },
    "auth": {"apiKeys": {"search:indexer": "k-indexer-123", "platform-lead": "k-lead-12345"}},
}


def values_file(tmp_path: Path, values: dict[str, object]) -> str:
    path = tmp_path / "teams-values.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def test_teams_break_glass_and_admin_keys_reach_the_policy_the_service_reads(
    tmp_path: Path,
) -> None:
    rendered = render(values_file(tmp_path, VALUES))
    data = rendered.get("ConfigMap", f"{RELEASE}-policy")["data"]["policy.yaml"]
    policy = parse_policy(data)
    assert policy.teams["payments"].keys == ("payments-ci",)
    assert policy.teams["payments"].budgets.hourly_usd == 2
    assert policy.teams["search"].budgets.daily_usd == 5
    [entry] = policy.break_glass
    assert (entry.scope, entry.reason, entry.budgets.hourly_usd) == ("payments", "INC-4211", 8)
    assert entry.until.isoformat() == "2026-12-01T06:00:00+00:00"  # read, never compared
    assert policy.admin_keys == ("platform-lead",)


def test_a_team_prefixed_key_becomes_a_team_line_of_the_keys_secret(tmp_path: Path) -> None:
    rendered = render(values_file(tmp_path, VALUES))
    secret = rendered.get("Secret", f"{RELEASE}-api-keys")
    keys = parse_keys(secret["stringData"]["api-keys"], separator="\n")
    assert keys == {"k-indexer-123": KeyIdentity("indexer", "search"),
                    "k-lead-12345": KeyIdentity("platform-lead", None)}


def test_the_defaults_configure_no_team() -> None:
    data = render().get("ConfigMap", f"{RELEASE}-policy")["data"]["policy.yaml"]
    policy = parse_policy(data)
    assert (policy.teams, policy.break_glass, policy.admin_keys) == ({}, (), ())


@pytest.mark.parametrize(("values", "where"), [
    ({"teams": {"payments": {"budgets": {"dayly_usd": 5}}}}, "dayly_usd"),
    ({"teams": {"global": {}}}, "invalid propertyName 'global'"),
    ({"teams": {"Payments": {}}}, "invalid propertyName 'Payments'"),
    ({"teams": {"payments": {"budgets": {"hourly_usd": -1}}}}, "/policy/teams/payments"),
    ({"break_glass": [{"scope": "global", "until": "2026-12-01T06:00:00Z", "reason": "x",
                       "budgets": {}}]}, "/policy/break_glass/0/budgets"),
    ({"break_glass": [{"scope": "global", "reason": "x", "budgets": {"hourly_usd": 20}}]},
     "/policy/break_glass/0"),
    ({"admin_keys": ["has space"]}, "/policy/admin_keys/0"),
])
def test_the_schema_refuses_what_the_service_would(
    tmp_path: Path, values: dict[str, object], where: str
) -> None:
    assert where in render_error(values_file(tmp_path, {"policy": values}))
