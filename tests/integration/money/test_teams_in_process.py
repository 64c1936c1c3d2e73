"""Teams through the real app in process (issue 17): keys in teams, the real SDK against the
fake Anthropic API, the real SQLite ledger, a ManualClock. A team's refusal is a 429 that names
the team and the window (headers, body, and a streamed answer's error event); /alerts charges
the sending key's team; /cost shows a caller its own team and an admin every team, with
break-glass entries, and a raise applies and expires on the injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.clock import ManualClock
from app.config import Settings
from app.main import create_app
from app.runtime import Runtime
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.fixtures import FAKE_API_KEY, fake_anthropic  # noqa: F401 - fixture
from tests.integration.resilience.conftest import summary_line

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
# The team from the key entry's prefix (ops) and from the policy's `keys` (payments).
KEYS = "ops:oncall=k-oncall,payments-ci=k-pay,lead=k-lead,loner=k-loner"
TEAMS: dict[str, Any] = {
    "ops": {"budgets": {"hourly_usd": 5.0}},
    "payments": {"keys": ["payments-ci"], "budgets": {"hourly_usd": 0.001}},
    "search": {"budgets": {"daily_usd": 3.0}},
}
NO_FREE_RUNGS = {"offline": False, "stale_cache": False}


def policy(**extra: Any) -> str:
    return yaml.safe_dump({"teams": TEAMS, "admin_keys": ["lead"],
                           "llm": {"timeout_seconds": 5}, **extra})


@dataclass
class Svc:
    client: httpx.AsyncClient
    clock: ManualClock
    runtime: Runtime
    fake: FakeAnthropic

    async def ask(self, key: str, question: str, **body: Any) -> httpx.Response:
        return await self.client.post("/ask", json={"question": question, **body},
                                      headers={"Authorization": f"Bearer {key}"})

    async def cost(self, key: str) -> dict[str, Any]:
        r = await self.client.get("/cost", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


Factory = Callable[[str], AbstractAsyncContextManager[Svc]]


@pytest.fixture
def service(tmp_path: Path, fake_anthropic: FakeAnthropic) -> Factory:  # noqa: F811
    @asynccontextmanager
    async def start(policy_text: str) -> AsyncIterator[Svc]:
        (tmp_path / "policy.yaml").write_text(policy_text)
        settings = Settings(
            anthropic_api_key=FAKE_API_KEY, anthropic_base_url=fake_anthropic.url,
            policy_file=tmp_path / "policy.yaml", ledger_path=tmp_path / "ledger.sqlite3",
            api_keys=KEYS, watch_interval_seconds=60.0)
        clock = ManualClock(START)
        app = create_app(settings, clock=clock)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc",
                              timeout=30) as client,
        ):
            yield Svc(client, clock, app.state.runtime, fake_anthropic)

    return start


def team_window(body: dict[str, Any], window: str = "hourly") -> dict[str, Any]:
    found: dict[str, Any] = next(w for w in body["windows"] if w["window"] == window)
    return found


async def test_a_team_refusal_is_a_429_naming_the_team_and_costs_the_upstream_nothing(
    service: Factory, caplog: pytest.LogCaptureFixture,
) -> None:
    async with service(policy(degradation=NO_FREE_RUNGS)) as svc:
        r = await svc.ask("k-pay", "pod OOMKilled what now")
        assert r.status_code == 429, r.text
        assert r.headers["x-budget-scope"] == "payments"
        assert r.headers["x-budget-window"] == "hourly"
        assert int(r.headers["retry-after"]) == 3600  # 07:00 -> 08:00 on the injected clock
        body = r.json()
        assert body["error"] == "budget_exhausted"
        assert body["budget"] == {"scope": "payments", "window": "hourly",
                                  "retry_after_seconds": 3600}
        assert "team payments's hourly budget" in body["detail"]
        assert "resets at 2026-11-27T08:00Z" in body["detail"]
        assert svc.fake.stats["total"] == 0
        line = summary_line(caplog)  # the request's log line says whose budget refused
        assert (line["team"], line["budget_scope"], line["budget_window"]) == (
            "payments", "payments", "hourly")
        ok = await svc.ask("k-oncall", "pod OOMKilled what now")  # ops has room
        assert ok.status_code == 200 and ok.json()["cost_usd"] > 0, ok.text


async def test_a_streamed_team_refusal_sends_the_same_in_its_error_event(
    service: Factory,
) -> None:
    async with service(policy(degradation=NO_FREE_RUNGS)) as svc:
        r = await svc.ask("k-pay", "pod OOMKilled what now", stream=True)
        assert r.status_code == 200  # the sources went out before the paid call was refused
        events = [block.split("\n") for block in r.text.strip().split("\n\n")]
        last = events[-1]
        assert last[0] == "event: error", r.text
        data = yaml.safe_load(last[1].removeprefix("data: "))
        assert data["status"] == 429 and data["error"] == "budget_exhausted"
        assert data["budget"] == {"scope": "payments", "window": "hourly",
                                  "retry_after_seconds": 3600}
        assert "team payments's" in data["detail"]
        assert svc.fake.stats["total"] == 0


async def test_an_alert_is_charged_to_the_team_of_the_key_that_sent_it(
    service: Factory,
) -> None:
    alert = {"version": "4", "status": "firing", "receiver": "sre-ai", "groupKey": "g",
             "alerts": [{"status": "firing", "labels": {"alertname": "KubePodOOMKilled"},
                         "annotations": {"summary": "pod OOMKilled"},
                         "startsAt": "2026-11-27T06:59:00Z", "fingerprint": "f1"}]}
    async with service(policy()) as svc:
        r = await svc.client.post("/alerts", json=alert,
                                  headers={"Authorization": "Bearer k-oncall"})
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        await svc.runtime.alerts.idle()
        [record] = await svc.runtime.alerts_records.recent()
        assert record.mode == "paid" and record.cost_usd
        ops = (await svc.cost("k-lead"))["teams"]["ops"]
        assert team_window(ops)["spent_usd"] == pytest.approx(record.cost_usd, abs=1e-9)
        assert team_window((await svc.cost("k-lead"))["teams"]["payments"])["spent_usd"] == 0


async def test_cost_shows_a_caller_its_own_team_and_an_admin_every_team(
    service: Factory,
) -> None:
    async with service(policy()) as svc:
        paid = (await svc.ask("k-oncall", "pod OOMKilled what now")).json()["cost_usd"]
        mine = await svc.cost("k-oncall")
        # The global windows as before (other tests and the e2e read them)...
        assert [w["window"] for w in mine["windows"]] == ["hourly", "daily", "monthly"]
        assert team_window(mine)["spent_usd"] == pytest.approx(paid, abs=1e-9)
        assert mine["per_request_limit_usd"] == 0.5 and mine["break_glass"] == []
        # ...and the caller's team, never another's.
        assert mine["team"]["name"] == "ops" and "teams" not in mine
        assert team_window(mine["team"]) == {
            "window": "hourly", "limit_usd": 5.0, "spent_usd": pytest.approx(paid, abs=1e-9),
            "reserved_usd": 0.0, "remaining_usd": pytest.approx(5.0 - paid, abs=1e-9),
            "resets_at": "2026-11-27T08:00:00+00:00"}
        pay = await svc.cost("k-pay")
        assert pay["team"]["name"] == "payments" and "teams" not in pay
        assert "ops" not in str(pay) and "search" not in str(pay)
        loner = await svc.cost("k-loner")
        assert loner["team"] is None and "teams" not in loner
        admin = await svc.cost("k-lead")
        assert set(admin["teams"]) == {"ops", "payments", "search"}
        assert team_window(admin["teams"]["ops"])["spent_usd"] == pytest.approx(paid, abs=1e-9)
        assert [w["window"] for w in admin["teams"]["search"]["windows"]] == ["daily"]


async def test_break_glass_applies_and_expires_on_the_clock_and_shows_in_cost(
    service: Factory,
) -> None:
    until = START + timedelta(minutes=30)
    raise_payments = {"scope": "payments", "until": until.isoformat(), "reason": "INC-4211",
                      "budgets": {"hourly_usd": 2.0}}
    async with service(policy(degradation=NO_FREE_RUNGS, break_glass=[raise_payments])) as svc:
        r = await svc.ask("k-pay", "pod OOMKilled what now")
        assert r.status_code == 200 and r.json()["cost_usd"] > 0, r.text  # base refuses it
        team = (await svc.cost("k-pay"))["team"]
        assert team_window(team)["limit_usd"] == 2.0
        assert team["break_glass"] == [{"until": "2026-11-27T07:30:00+00:00",
                                        "reason": "INC-4211", "budgets": {"hourly_usd": 2.0}}]
        admin = await svc.cost("k-lead")
        assert admin["teams"]["payments"]["break_glass"] == team["break_glass"]
        assert admin["teams"]["ops"]["break_glass"] == []

        svc.clock.advance(30 * 60)  # `until`: reverted by itself, nothing edited
        r = await svc.ask("k-pay", "node NotReady what now")
        assert r.status_code == 429 and r.headers["x-budget-scope"] == "payments", r.text
        team = (await svc.cost("k-pay"))["team"]
        assert team_window(team)["limit_usd"] == 0.001 and team["break_glass"] == []
