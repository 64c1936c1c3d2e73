"""A runbook changed while the service builds its first index (seconds, at thousands of
runbooks) is picked up by the watcher's first poll, not only at the next change: the
watcher's first look at the directory is taken before the load (app/runtime.py)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from app.clock import SystemClock
from app.config import Settings
from app.metrics import Metrics
from app.runtime import Runtime


async def test_a_runbook_changed_during_the_first_load_is_seen_at_the_first_poll(
        tmp_path: Path) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "disk-full.md").write_text("# Disk full\n## Mitigation\nDelete old logs.\n")
    settings = Settings(runbooks_dir=books, ledger_path=tmp_path / "ledger.sqlite3",
                        embedding_cache_dir=tmp_path / "embeddings")
    runtime = Runtime.build(settings, SystemClock(), Metrics(CollectorRegistry()))
    try:
        assert list(runtime.runbooks.current.runbooks) == ["disk-full"]
        # as if written while the index was building: after the loader read the directory,
        # before the watchers start
        (books / "node-notready.md").write_text("# Node NotReady\n## Mitigation\nDrain it.\n")
        assert runtime.runbook_watcher is not None
        assert await runtime.runbook_watcher.check()
        assert sorted(runtime.runbooks.current.runbooks) == ["disk-full", "node-notready"]
    finally:
        await runtime.stop()
