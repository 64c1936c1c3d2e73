"""Many teams, one budget, through the real service (issue 17): two uvicorn processes share one
redis-server ledger and one keys file (`team:name=key` lines); the fake Anthropic API holds the
admitted calls in flight and counts what it bills.

- Concurrent load from three teams with different budgets and rate limits: no team passes its
  windows, the global window holds (and binds: the teams' limits add up to more), a key over its
  requests per minute is refused 429 `rate_limited` by both processes together, the settled
  spend per team adds up to the global spend and to exactly what the upstream billed, and a
  refused caller (by budget or by rate) costs the upstream nothing (every call that reached it
  was admitted and paid).
- A break-glass raise whose `until` lies ahead of the real clock applies on both processes.
  (Its expiry needs a clock the test moves: tests/integration/money/test_teams_in_process.py
  and tests/unit/services/test_team_budgets.py prove it on a ManualClock.)
- A key revoked in the keys file is refused by both processes within the watch interval.

TEAM_TABLE is the per-team configuration: add a column (rate limits...) and the keys file and
the policy follow.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from tests.fakes.redis_server import RedisServer
from tests.fakes.service_process import ServiceProcess, wait_until
from tests.integration.money.conftest import (
    HAIKU,
    HTTP_TIMEOUT_SECONDS,
    SONNET,
    ThreadedFake,
    avoid_hour_boundary,
    policy_yaml,
    price_usage,
    service_env,
    start_all,
    wait_for_policy,
    worst_case,
    write_policy,
)

pytestmark = pytest.mark.integration

WATCH_INTERVAL_SECONDS = 0.2
DECIDE_TIMEOUT_SECONDS = 300.0
GLOBAL_HOURLY_USD = 0.25


@dataclass(frozen=True)
class TeamCase:
    keys: tuple[str, ...]
    hourly_usd: float
    requests: int  # in the concurrent burst
    requests_per_minute: int = 0  # each of the team's keys; 0: unlimited


# Together 0.35 USD an hour, above the global 0.25: the global window must bind. Green's one
# key may send 8 requests a minute of its 20: the rate limit, shared by both processes through
# Redis, refuses the rest before any budget is looked at.
TEAM_TABLE: dict[str, TeamCase] = {
    "red": TeamCase(("red-a", "red-b"), hourly_usd=0.05, requests=12, requests_per_minute=600),
    "green": TeamCase(("green-a",), hourly_usd=0.10, requests=20, requests_per_minute=8),
    "blue": TeamCase(("blue-a",), hourly_usd=0.20, requests=30),
}
ADMIN = "admin"


def secret(key_name: str) -> str:
    return f"k-{key_name}-0123456789"


def keys_file_text(revoked: frozenset[str] = frozenset()) -> str:
    lines = [f"{team}:{key}={secret(key)}" for team, case in TEAM_TABLE.items()
             for key in case.keys if key not in revoked]
    return "\n".join([*lines, f"{ADMIN}={secret(ADMIN)}", ""])


def teams_policy(*, team_hourly: dict[str, float] | None = None,
                 break_glass: list[dict[str, Any]] | None = None) -> str:
    doc = yaml.safe_load(policy_yaml(hourly_usd=GLOBAL_HOURLY_USD))
    hourly = {name: case.hourly_usd for name, case in TEAM_TABLE.items()} | (team_hourly or {})
    doc["teams"] = {name: {"budgets": {"hourly_usd": usd}} for name, usd in hourly.items()}
    doc["admin_keys"] = [ADMIN]
    doc["rate_limits"] = {"keys": {
        key: {"requests_per_minute": case.requests_per_minute}
        for case in TEAM_TABLE.values() if case.requests_per_minute for key in case.keys}}
    if break_glass:
        doc["break_glass"] = break_glass
    return str(yaml.safe_dump(doc, sort_keys=False))


def replace_file(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class TeamFleet:
    replicas: list[ServiceProcess]
    redis: RedisServer
    policy_file: Path
    keys_file: Path
    fake: ThreadedFake

    def apply(self, text: str) -> None:
        wait_for_policy(self.replicas, write_policy(self.policy_file, text))


@pytest.fixture(scope="module")
def team_fleet_processes(
    tmp_path_factory: pytest.TempPathFactory, gated_fake: ThreadedFake
) -> Iterator[TeamFleet]:
    try:
        server = RedisServer.start()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    workdir = tmp_path_factory.mktemp("team-fleet")
    policy_file, keys_file = workdir / "policy.yaml", workdir / "api-keys"
    write_policy(policy_file, teams_policy())
    replace_file(keys_file, keys_file_text())
    env = service_env(gated_fake, policy_file, SRE_AI_REDIS_URL=server.url,
                      SRE_AI_API_KEYS_FILE=str(keys_file),
                      SRE_AI_WATCH_INTERVAL_SECONDS=str(WATCH_INTERVAL_SECONDS))
    replicas = [ServiceProcess(env, workdir, name=f"teams{i}") for i in range(2)]
    try:
        start_all(replicas)
        yield TeamFleet(replicas, server, policy_file, keys_file, gated_fake)
    finally:
        for svc in replicas:
            svc.stop()
        server.close()


@pytest.fixture
def team_fleet(team_fleet_processes: TeamFleet) -> TeamFleet:
    """Empty Redis, the fake open with nothing recorded, every key in the file, the base
    policy, clear of an hour boundary."""
    f = team_fleet_processes
    with redis.Redis.from_url(f.redis.url) as client:
        client.flushall()
    f.fake.reset()
    replace_file(f.keys_file, keys_file_text())
    f.apply(teams_policy())
    avoid_hour_boundary()
    return f


# ------------------------------------------------------------------ talking to the fleet


def ask(svc: ServiceProcess, key: str, question: str) -> httpx.Response:
    return httpx.post(svc.url + "/ask", json={"question": question},
                      headers={"Authorization": f"Bearer {secret(key)}"},
                      timeout=HTTP_TIMEOUT_SECONDS)


def cost_as(svc: ServiceProcess, key: str) -> httpx.Response:
    return httpx.get(svc.url + "/cost", headers={"Authorization": f"Bearer {secret(key)}"},
                     timeout=HTTP_TIMEOUT_SECONDS)


def admin_cost(svc: ServiceProcess) -> dict[str, Any]:
    r = cost_as(svc, ADMIN)
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


def hourly(windows: list[dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = next(w for w in windows if w["window"] == "hourly")
    return found


def usd(value: float) -> Decimal:
    return Decimal(repr(value))


@dataclass
class Outcome:
    team: str
    key: str
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


class TeamBurst:
    """Every (team, key, question) sent at once, round-robin over the replicas, from a thread
    of its own; `done` fills as answers arrive."""

    def __init__(self, replicas: list[ServiceProcess], asks: list[tuple[str, str, str]]) -> None:
        self.done: list[Outcome] = []
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="team-burst")
        self._future = self._pool.submit(asyncio.run, self._run(replicas, asks))

    async def _run(self, replicas: list[ServiceProcess], asks: list[tuple[str, str, str]]
                   ) -> None:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        async with httpx.AsyncClient(limits=limits, timeout=600) as client:
            async def one(i: int, team: str, key: str, question: str) -> None:
                r = await client.post(replicas[i % len(replicas)].url + "/ask",
                                      json={"question": question},
                                      headers={"Authorization": f"Bearer {secret(key)}"})
                self.done.append(Outcome(team, key, r.status_code, dict(r.headers), r.json()))

            await asyncio.gather(*(one(i, *a) for i, a in enumerate(asks)))

    def finish(self, timeout: float) -> list[Outcome]:
        try:
            self._future.result(timeout=timeout)
        finally:
            self._pool.shutdown(wait=True)
        return self.done


def burst_asks(teams: list[str], tag: str) -> list[tuple[str, str, str]]:
    """Distinct questions of one length (no cache, no coalescing; one worst case per model),
    the teams interleaved."""
    per_team = {
        team: [(team, TEAM_TABLE[team].keys[i % len(TEAM_TABLE[team].keys)],
                f"pod OOMKilled, what now? ticket {tag}{team[0]}{i:04d}")
               for i in range(TEAM_TABLE[team].requests)]
        for team in teams}
    longest = max(len(v) for v in per_team.values())
    return [a for i in range(longest) for v in per_team.values() if i < len(v) for a in [v[i]]]


# ------------------------------------------------------------------ the proofs


def test_concurrent_teams_never_pass_their_windows_and_the_global_one_holds(
    team_fleet: TeamFleet,
) -> None:
    fleet = team_fleet
    fleet.fake.hold()  # admitted calls stay in flight, holding their worst case
    burst_red = burst_green_blue = None
    try:
        # Red alone first: the global window has room, so red's own window is what refuses.
        red = burst_asks(["red"], "x")
        burst_red = TeamBurst(fleet.replicas, red)
        wait_until(lambda: len(burst_red.done) + fleet.fake.held == len(red),
                   timeout=DECIDE_TIMEOUT_SECONDS, what="every red ask decided")
        # Then green and blue together, while red's calls are still held: the global binds.
        rest = burst_asks(["green", "blue"], "y")
        held_before = fleet.fake.held
        burst_green_blue = TeamBurst(fleet.replicas, rest)
        wait_until(lambda: len(burst_green_blue.done) + fleet.fake.held
                   == len(rest) + held_before,
                   timeout=DECIDE_TIMEOUT_SECONDS, what="every green and blue ask decided")
        peak = admin_cost(fleet.replicas[1])
        arrived = fleet.fake.arrived
    finally:
        fleet.fake.release()
    red_out = burst_red.finish(timeout=DECIDE_TIMEOUT_SECONDS)
    rest_out = burst_green_blue.finish(timeout=DECIDE_TIMEOUT_SECONDS)
    outcomes = red_out + rest_out

    w = {m: worst_case(m, arrived[0]) for m in (SONNET, HAIKU)}  # same prompt length for all
    cheapest = min(w.values())
    # At the peak every admitted call holds its worst case: within each team's window and the
    # global one, and each window that refused has no room left for even the cheapest call.
    g = hourly(peak["windows"])
    assert usd(g["reserved_usd"]) <= usd(GLOBAL_HOURLY_USD) and g["spent_usd"] == 0
    assert usd(g["remaining_usd"]) < cheapest  # the global window bound
    reserved_by_team = {}
    for name, case in TEAM_TABLE.items():
        t = hourly(peak["teams"][name]["windows"])
        assert usd(t["reserved_usd"]) <= usd(case.hourly_usd), (name, t)
        reserved_by_team[name] = usd(t["reserved_usd"])
    assert sum(reserved_by_team.values()) == usd(g["reserved_usd"])
    assert usd(hourly(peak["teams"]["red"]["windows"])["remaining_usd"]) < cheapest

    admitted = [o for o in outcomes if o.status == 200]
    rate_limited = [o for o in outcomes if o.status == 429 and o.body["error"] == "rate_limited"]
    refused = [o for o in outcomes if o.status != 200 and o not in rate_limited]
    assert len(admitted) == len(arrived), "a call reached the upstream without being admitted"
    assert all(o.body["cost_usd"] > 0 and o.body["model"] in (SONNET, HAIKU) for o in admitted)
    # Rate limits: each limited key got exactly its minute's requests past the gate, across
    # both processes; a refusal says when to retry; unlimited keys were never rate limited.
    for case in TEAM_TABLE.values():
        for key in case.keys:
            sent = [o for o in outcomes if o.key == key]
            limited = [o for o in rate_limited if o.key == key]
            if case.requests_per_minute and len(sent) > case.requests_per_minute:
                assert len(sent) - len(limited) == case.requests_per_minute, (key, len(limited))
            else:
                assert limited == [], key
    assert rate_limited, "the burst was meant to pass green's rate limit"
    for o in rate_limited:
        assert int(o.headers["retry-after"]) >= 1 and o.headers["x-ratelimit-remaining"] == "0"
    for o in refused:
        assert o.status == 429 and o.body["error"] == "budget_exhausted", o.body
        assert o.headers["x-budget-scope"] == o.body["budget"]["scope"]
        assert o.body["budget"]["scope"] in (o.team, "global")
        assert o.body["budget"]["window"] == "hourly"
    # Red was refused by its own window (the global one had room then)...
    assert {o.body["budget"]["scope"] for o in red_out if o in refused} == {"red"}
    # ...and green and blue by the global window once the fleet's hour was used up.
    assert "global" in {o.body["budget"]["scope"] for o in rest_out if o in refused}

    # Settled: per team within its limit, together the global spend, equal to the upstream's
    # bill priced independently, and nothing left reserved. Both processes read the same.
    billed = fleet.fake.billed
    bill = sum((price_usage(b["model"], b["usage"]) for b in billed), Decimal(0))
    final = [admin_cost(svc) for svc in fleet.replicas]
    assert final[0]["teams"] == final[1]["teams"] and final[0]["windows"] == final[1]["windows"]
    spent_by_team = {}
    for name, case in TEAM_TABLE.items():
        t = hourly(final[0]["teams"][name]["windows"])
        assert usd(t["spent_usd"]) <= usd(case.hourly_usd) and t["reserved_usd"] == 0
        answered = sum((usd(o.body["cost_usd"]) for o in admitted if o.team == name),
                       Decimal(0))
        assert usd(t["spent_usd"]) == answered, name
        spent_by_team[name] = usd(t["spent_usd"])
    g = hourly(final[0]["windows"])
    assert sum(spent_by_team.values()) == usd(g["spent_usd"]) == bill
    assert bill <= usd(GLOBAL_HOURLY_USD) and g["reserved_usd"] == 0


def test_a_break_glass_raise_ahead_of_the_clock_applies_on_both_processes(
    team_fleet: TeamFleet,
) -> None:
    fleet = team_fleet
    fleet.apply(teams_policy(team_hourly={"red": 0.000001}))  # below any call's worst case
    for i, svc in enumerate(fleet.replicas):
        r = ask(svc, "red-a", f"pod OOMKilled, what now? ticket g{i:04d}")
        assert r.status_code == 429 and r.headers["x-budget-scope"] == "red", r.text
    assert fleet.fake.arrived == []  # refused callers cost the upstream nothing

    # `until` a week ahead of the real clock now (computed here, never a fixed date).
    until = datetime.now(UTC) + timedelta(days=7)
    fleet.apply(teams_policy(team_hourly={"red": 0.000001}, break_glass=[
        {"scope": "red", "until": until.isoformat(), "reason": "INC-17 test",
         "budgets": {"hourly_usd": 0.2}}]))
    for i, svc in enumerate(fleet.replicas):
        r = ask(svc, "red-b", f"pod OOMKilled, what now? ticket h{i:04d}")
        assert r.status_code == 200 and r.json()["cost_usd"] > 0, r.text
        team = admin_cost(svc)["teams"]["red"]
        assert hourly(team["windows"])["limit_usd"] == 0.2
        assert [e["reason"] for e in team["break_glass"]] == ["INC-17 test"]
    assert len(fleet.fake.arrived) == len(fleet.replicas)


def test_a_key_revoked_in_the_keys_file_is_refused_by_both_processes(
    team_fleet: TeamFleet,
) -> None:
    fleet = team_fleet
    for svc in fleet.replicas:
        assert ask(svc, "red-b", "pod OOMKilled, what now? ticket k0000").status_code == 200
    calls = len(fleet.fake.arrived)
    replace_file(fleet.keys_file, keys_file_text(revoked=frozenset({"red-b"})))
    for svc in fleet.replicas:  # polled on a free endpoint: a poll must not cost anything
        wait_until(lambda s=svc: cost_as(s, "red-b").status_code == 401,
                   timeout=10 * WATCH_INTERVAL_SECONDS + 5, what=f"red-b refused by {svc.url}")
    for i, svc in enumerate(fleet.replicas):
        r = ask(svc, "red-b", f"pod OOMKilled, what now? ticket r{i:04d}")
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", r.text
        r = ask(svc, "red-a", f"pod OOMKilled, what now? ticket s{i:04d}")  # red-a still in
        assert r.status_code == 200, r.text
    # Only red-a's asks reached the upstream: the revoked key cost nothing.
    assert len(fleet.fake.arrived) == calls + len(fleet.replicas)
