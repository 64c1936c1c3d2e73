"""`ai_ledger_wal_bytes` at the scrape: the SQLite ledger's WAL file on the pod's volume, as
`ls -l` would show it (alert AILedgerWALGrowing); 0 with the Redis ledger, which has no file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.redis_server import RedisServer, private_redis_server  # noqa: F401 - fixture
from tests.integration.resilience.conftest import InProcessFactory, metric_value, question

pytestmark = pytest.mark.integration


def file_size(path: Path) -> int:
    return path.stat().st_size


async def test_the_sqlite_ledgers_wal_size_is_scraped(in_process: InProcessFactory) -> None:
    async with in_process() as svc:
        wal = Path(f"{svc.runtime.settings.ledger_path}-wal")
        for i in range(3):
            r = await svc.ask(question(i))
            assert r.status_code == 200 and r.json()["cost_usd"] > 0  # paid: the ledger wrote
        text = (await svc.client.get("/metrics")).text
        assert metric_value(text, "ai_ledger_wal_bytes") == file_size(wal) > 0


async def test_the_redis_ledger_reports_no_wal(
    in_process: InProcessFactory, private_redis_server: RedisServer,  # noqa: F811
) -> None:
    async with in_process(redis_url=private_redis_server.url) as svc:
        assert (await svc.ask(question(0))).json()["cost_usd"] > 0
        text = (await svc.client.get("/metrics")).text
        assert metric_value(text, "ai_ledger_wal_bytes") == 0
