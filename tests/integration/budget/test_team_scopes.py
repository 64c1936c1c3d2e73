"""Team windows under the global ones (issue 17), on memory, SQLite and a real redis-server: one
reservation checks and holds the team's and the global windows in one atomic step, a refusal
holds nothing anywhere and names its scope, settle and release move a team reservation like a
global one, and concurrent reserves of two teams against one global window never exceed either.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest

from app.budget.ledger import Reservation, WindowState
from app.budget.pricing import usd_to_nano
from app.config.teams import Limits
from app.errors import BudgetExceededError
from tests.fakes.redis_server import RedisServer
from tests.integration.budget.conftest import LedgerFactory

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]

GLOBAL = Limits("global", 1.0, {"hourly": 1.0, "daily": 2.0, "monthly": 3.0}, False)
RED = Limits("red", None, {"hourly": 0.5, "daily": 0.5}, False)
BLUE = Limits("blue", None, {"hourly": 0.7}, False)


def usage(states: list[WindowState]) -> list[tuple[str, str, float, float]]:
    return [(s.scope, s.window, s.spent_usd, s.reserved_usd) for s in states]


async def test_one_step_holds_the_team_and_the_global_windows(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory()
    held = await ledger.reserve(0.25, [GLOBAL, RED])
    assert usage(await ledger.snapshot([GLOBAL, RED, BLUE])) == [
        ("global", "hourly", 0.0, 0.25), ("global", "daily", 0.0, 0.25),
        ("global", "monthly", 0.0, 0.25), ("red", "hourly", 0.0, 0.25),
        ("red", "daily", 0.0, 0.25), ("blue", "hourly", 0.0, 0.0)]
    await ledger_factory().settle(held, 0.125)  # from another replica
    assert usage(await ledger.snapshot([GLOBAL, RED])) == [
        ("global", w, 0.125, 0.0) for w in ("hourly", "daily", "monthly")] + [
        ("red", w, 0.125, 0.0) for w in ("hourly", "daily")]


async def test_release_of_a_team_reservation_frees_every_window(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory()
    await ledger.release(await ledger.reserve(0.5, [GLOBAL, RED]))
    assert all(s.reserved_usd == 0 == s.spent_usd
               for s in await ledger.snapshot([GLOBAL, RED]))
    await ledger.reserve(0.5, [GLOBAL, RED])  # the whole team window is free again


async def test_a_team_refusal_holds_nothing_in_any_window(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory()
    await ledger.settle(await ledger.reserve(0.4, [GLOBAL, RED]), 0.4)
    with pytest.raises(BudgetExceededError) as info:
        await ledger.reserve(0.2, [GLOBAL, RED])  # fits every global window, not red's hourly
    assert (info.value.scope, info.value.window) == ("red", "hourly")
    assert all(s.reserved_usd == 0 for s in await ledger.snapshot([GLOBAL, RED]))
    await ledger.reserve(0.2, [GLOBAL, BLUE])  # another team: red's window does not hold it


async def test_the_global_window_refuses_a_team_with_room(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory()
    await ledger.settle(await ledger.reserve(0.5, [GLOBAL, RED]), 0.5)
    await ledger.settle(await ledger.reserve(0.4, [GLOBAL, BLUE]), 0.4)
    with pytest.raises(BudgetExceededError) as info:
        await ledger.reserve(0.2, [GLOBAL, BLUE])  # blue has 0.3 left, the fleet 0.1
    assert (info.value.scope, info.value.window) == ("global", "hourly")
    assert [s.reserved_usd for s in await ledger.snapshot([GLOBAL, BLUE])] == [0.0] * 4


AMOUNT_USD = 0.07
TEAM_LIMIT_USD = 0.5  # each team: floor(0.5 / 0.07) = 7; together 14 > the global 13 below
CONCURRENT_GLOBAL = Limits("global", 1.0, {"hourly": 0.93, "daily": 5.0}, False)


@pytest.mark.parametrize("store_kind", ["sqlite", "redis"], indirect=True)
async def test_concurrent_reserves_of_two_teams_never_exceed_either_window(
    ledger_factory: LedgerFactory,
) -> None:
    teams = {name: Limits(name, None, {"hourly": TEAM_LIMIT_USD}, False)
             for name in ("red", "blue")}
    ledgers = [ledger_factory(), ledger_factory()]  # two replicas on one store

    async def one(i: int) -> tuple[str, Reservation | None]:
        name = ("red", "blue")[i % 2]
        try:
            return name, await ledgers[(i // 2) % 2].reserve(
                AMOUNT_USD, [CONCURRENT_GLOBAL, teams[name]])
        except BudgetExceededError:
            return name, None

    results = await asyncio.gather(*(one(i) for i in range(60)))
    admitted = [(name, r) for name, r in results if r is not None]
    amount = usd_to_nano(AMOUNT_USD)
    per_team = {n: sum(1 for name, _ in admitted if name == n) for n in teams}
    assert all(count * amount <= usd_to_nano(TEAM_LIMIT_USD) for count in per_team.values())
    # Exactly what the global window allows: no more, and no fewer (a refusal held nothing).
    assert len(admitted) == usd_to_nano(0.93) // amount == 13
    await asyncio.gather(*(ledgers[0].settle(r, AMOUNT_USD) for _, r in admitted))
    states = await ledgers[1].snapshot([CONCURRENT_GLOBAL, *teams.values()])
    by = {(s.scope, s.window): s for s in states}
    assert usd_to_nano(by["global", "hourly"].spent_usd) == 13 * amount
    for name, count in per_team.items():
        assert usd_to_nano(by[name, "hourly"].spent_usd) == count * amount
        assert by[name, "hourly"].reserved_usd == 0


async def race_processes(target: str, prefix: str, teams: list[str]) -> list[int]:
    """One worker process per entry of `teams` (tests/integration/budget/ledger_worker.py),
    released together; each returns how many reservations it was granted."""
    args = ["10", str(AMOUNT_USD), "0.93"]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.integration.budget.ledger_worker", "race", target,
            prefix, *args, team, str(TEAM_LIMIT_USD), cwd=REPO, stdin=PIPE, stdout=PIPE)
        for team in teams
    ]
    for p in procs:
        assert p.stdout is not None
        assert await asyncio.wait_for(p.stdout.readline(), timeout=30) == b"ready\n"
    outputs = await asyncio.gather(*(asyncio.wait_for(p.communicate(b"go\n"), 60) for p in procs))
    assert all(p.returncode == 0 for p in procs)
    return [int(out.decode()) for out, _ in outputs]


@pytest.mark.parametrize("store_kind", ["sqlite", "redis"], indirect=True)
async def test_processes_of_two_teams_share_one_global_window(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest,
) -> None:
    """The worker's global hourly is 0.93 USD (13 reservations of 0.07), each team's 0.5 (7):
    together the teams could take 14, so the global window must stop them at exactly 13."""
    if store_kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        target, prefix = server.url, f"teams:{uuid.uuid4().hex}"
    else:
        target, prefix = str(tmp_path / "ledger.sqlite3"), "-"
    teams = ["red", "red", "blue", "blue"]
    granted = await race_processes(target, prefix, teams)
    per_team = {t: sum(g for g, name in zip(granted, teams, strict=True) if name == t)
                for t in ("red", "blue")}
    assert sum(granted) == 13
    assert all(count <= 7 for count in per_team.values()), per_team
