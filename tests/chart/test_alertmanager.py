"""The chart's Alertmanager integration (issue 15): an AlertmanagerConfig routing to POST /alerts
when the cluster serves that API, the kube-prometheus-stack receiver in NOTES otherwise, and the
outbound answer webhook's Secret wired into the pod."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from tests.chart import crd_schemas
from tests.chart.rendering import CHART, NAMESPACE, RELEASE, render, render_error
from tests.chart.test_release_objects import render_notes

pytestmark = pytest.mark.chart

AMC_API = "monitoring.coreos.com/v1alpha1/AlertmanagerConfig"
VALUES = "alertmanager-values.yaml"
ALERTS_URL = f"http://{RELEASE}.{NAMESPACE}.svc:8000/alerts"


def _amc(*values: str, sets: tuple[str, ...] = ()) -> dict[str, Any]:
    return render(*values, sets=sets, api_versions=[AMC_API]).get("AlertmanagerConfig")


def test_rendered_only_when_enabled_and_the_api_is_served() -> None:
    assert render(VALUES).all("AlertmanagerConfig") == []  # the API is not served
    assert render(api_versions=[AMC_API]).all("AlertmanagerConfig") == []  # not enabled
    assert _amc(VALUES)["apiVersion"] == "monitoring.coreos.com/v1alpha1"


def test_it_routes_matching_alerts_to_the_service_with_the_bearer_key() -> None:
    amc = _amc(VALUES)
    assert amc["metadata"]["namespace"] == NAMESPACE
    assert amc["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    route = amc["spec"]["route"]
    assert route == {
        "receiver": "sre-ai-platform",
        "groupBy": ["alertname", "namespace", "service"],
        "groupWait": "10s",
        "groupInterval": "5m",
        "repeatInterval": "12h",
        "continue": False,
        "matchers": [{"name": "severity", "value": "page|critical", "matchType": "=~"}],
    }
    (receiver,) = amc["spec"]["receivers"]
    assert receiver["name"] == route["receiver"]
    (webhook,) = receiver["webhookConfigs"]
    assert webhook["url"] == ALERTS_URL
    assert webhook["sendResolved"] is True
    assert webhook["httpConfig"]["authorization"] == {
        "type": "Bearer", "credentials": {"name": "alertmanager-sre-ai-key", "key": "token"},
    }


def test_without_client_keys_no_credentials_are_sent() -> None:
    amc = _amc(sets=("alertmanager.config.enabled=true",))
    (webhook,) = amc["spec"]["receivers"][0]["webhookConfigs"]
    assert "httpConfig" not in webhook
    assert "matchers" not in amc["spec"]["route"]


def test_it_matches_the_generated_crd() -> None:
    validator = crd_schemas.load_validator("AlertmanagerConfig", "v1alpha1")
    if validator is None:
        pytest.skip("AlertmanagerConfig CRD not generated: run `make chart-crds`")
    for amc in (_amc(VALUES), _amc(sets=("alertmanager.config.enabled=true",))):
        errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(amc)]
        assert errors == []
    probe = copy.deepcopy(_amc(VALUES))
    probe["spec"]["route"]["groupwait"] = "10s"
    assert list(validator.iter_errors(probe)), "the CRD validator must reject unknown fields"


def test_client_keys_without_alertmanager_credentials_are_refused() -> None:
    message = render_error(sets=["auth.existingSecret=keys", "alertmanager.config.enabled=true"])
    assert "alertmanager.config.credentials.existingSecret" in message and "401" in message


def test_a_webhook_token_key_without_its_secret_is_refused() -> None:
    message = render_error(sets=["alerts.webhook.tokenKey=token"])
    assert "alerts.webhook.existingSecret is empty" in message


@pytest.mark.parametrize(
    ("sets", "where"),
    [
        (["alertmanager.config.matchers[0].name=severity",
          "alertmanager.config.matchers[0].value=page",
          "alertmanager.config.matchers[0].matchType=~"],
         "/alertmanager/config/matchers/0/matchType"),
        (["alertmanager.config.matchers[0].value=page"], "/alertmanager/config/matchers/0"),
        (["alertmanager.config.groupWait=30 seconds"], "/alertmanager/config/groupWait"),
        (["alertmanager.config.repeatInterval="], "/alertmanager/config/repeatInterval"),
        (["alertmanager.config.credentials.existingSecret=Not_A_Name"],
         "/alertmanager/config/credentials/existingSecret"),
        (["alertmanager.config.maxAlerts=-1"], "/alertmanager/config/maxAlerts"),
        (["alerts.webhook.timeoutSeconds=0"], "/alerts/webhook/timeoutSeconds"),
        (["alerts.webhook.maxAttempts=0"], "/alerts/webhook/maxAttempts"),
        (["alerts.webhook.maxAttempts=21"], "/alerts/webhook/maxAttempts"),
        (["alerts.webhook.url=https://hooks.example.com/x"], "/alerts/webhook"),
    ],
)
def test_schema_refuses_bad_alertmanager_and_webhook_values(sets: list[str], where: str) -> None:
    message = render_error(sets=sets)
    assert "don't meet the specifications of the schema" in message
    assert where in message


def test_webhook_bounds_match_the_service_settings() -> None:
    """The chart refuses what the service would refuse at start-up, at the same numbers."""
    webhook = json.loads((CHART / "values.schema.json").read_text())["properties"]["alerts"][
        "properties"]["webhook"]["properties"]

    def bounds(field: str) -> dict[str, float]:
        found: dict[str, float] = {}
        for m in Settings.model_fields[field].metadata:
            for name in ("gt", "ge", "le"):
                if getattr(m, name, None) is not None:
                    found[name] = getattr(m, name)
        return found

    assert bounds("alert_webhook_timeout_seconds") == {
        "gt": webhook["timeoutSeconds"]["exclusiveMinimum"],
        "le": webhook["timeoutSeconds"]["maximum"],
    }
    assert bounds("alert_webhook_max_attempts") == {
        "ge": webhook["maxAttempts"]["minimum"], "le": webhook["maxAttempts"]["maximum"],
    }


def test_the_webhook_secret_is_mounted_and_named_by_file_never_by_value() -> None:
    rendered = render(VALUES)
    container = rendered.api_container()
    env = {e["name"]: e for e in container["env"]}
    assert env["SRE_AI_ALERT_WEBHOOK_URL_FILE"]["value"] == "/etc/sre-ai/alert-webhook/url"
    assert env["SRE_AI_ALERT_WEBHOOK_TOKEN_FILE"]["value"] == "/etc/sre-ai/alert-webhook/token"
    assert env["SRE_AI_ALERT_WEBHOOK_TIMEOUT_SECONDS"]["value"] == "3"
    assert env["SRE_AI_ALERT_WEBHOOK_MAX_ATTEMPTS"]["value"] == "8"
    assert "SRE_AI_ALERT_WEBHOOK_URL" not in env
    mount = next(m for m in container["volumeMounts"] if m["name"] == "alert-webhook")
    assert mount == {"name": "alert-webhook", "mountPath": "/etc/sre-ai/alert-webhook",
                     "readOnly": True}  # a directory: a rotated token is seen
    volumes = rendered.api_deployment()["spec"]["template"]["spec"]["volumes"]
    volume = next(v for v in volumes if v["name"] == "alert-webhook")
    assert volume["secret"]["secretName"] == "sre-ai-alert-webhook"
    # Settings accept what the chart sets (a URL file, no inline URL).
    Settings(**{k.removeprefix("SRE_AI_").lower(): e["value"] for k, e in env.items()
                if k.startswith("SRE_AI_ALERT_WEBHOOK_")})


def test_no_webhook_no_env_and_no_volume() -> None:
    rendered = render()
    names = {e["name"] for e in rendered.api_container()["env"]}
    assert not {n for n in names if n.startswith("SRE_AI_ALERT_WEBHOOK")}
    volumes = rendered.api_deployment()["spec"]["template"]["spec"]["volumes"]
    assert "alert-webhook" not in {v["name"] for v in volumes}


def test_notes_say_where_alerts_are_routed(tmp_path: Path) -> None:
    notes = render_notes(tmp_path, "-f", str(CHART / "ci" / VALUES), "--api-versions", AMC_API)
    assert f"AlertmanagerConfig {RELEASE} routes the matching alerts to\n{ALERTS_URL}" in notes
    assert "alertmanagerConfigMatcherStrategy.type: None" in notes
    assert "Secret sre-ai-alert-webhook" in notes


def test_notes_give_the_kube_prometheus_stack_receiver_without_the_crd(tmp_path: Path) -> None:
    notes = render_notes(tmp_path, "-f", str(CHART / "ci" / VALUES))
    assert "AlertmanagerConfig API is not served" in notes
    assert f"- url: {ALERTS_URL}" in notes
    assert "secrets: [alertmanager-sre-ai-key]" in notes
    assert "credentials_file: /etc/alertmanager/secrets/alertmanager-sre-ai-key/token" in notes


def test_notes_are_silent_about_alertmanager_by_default(tmp_path: Path) -> None:
    assert "Alertmanager" not in render_notes(tmp_path, "--api-versions", AMC_API)
