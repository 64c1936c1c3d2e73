"""The garbage collector set for serving (app/gc_tuning.py): frozen and raised once ready, and
put back as it was when the app shuts down (tests build many apps in one interpreter)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.gc_tuning import tune_collector
from app.main import create_app


@pytest.fixture(autouse=True)
def collector_as_found() -> Iterator[None]:
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    yield
    gc.set_threshold(*threshold)
    if gc.get_freeze_count() != frozen:
        gc.unfreeze()


def test_ready_service_freezes_what_is_alive_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    survivor = [object()]  # tracked, alive when the collector is tuned

    restore = tune_collector(50_000)

    assert gc.get_threshold() == (50_000, *before[1:])
    assert gc.get_freeze_count() > 0
    assert not any(o is survivor for o in gc.get_objects())  # out of every collection
    restore()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert any(o is survivor for o in gc.get_objects())


def test_zero_leaves_pythons_defaults() -> None:
    before = gc.get_threshold()
    restore = tune_collector(0)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    restore()
    assert gc.get_threshold() == before


@pytest.mark.parametrize("threshold", ["-1", "10000001", "many"])
def test_a_bad_threshold_is_refused(monkeypatch: pytest.MonkeyPatch, threshold: str) -> None:
    monkeypatch.setenv("SRE_AI_GC_YOUNG_THRESHOLD", threshold)
    with pytest.raises(ValueError, match="gc_young_threshold"):
        Settings()


def test_the_app_tunes_it_for_its_lifetime_only(tmp_path: Path) -> None:
    before = gc.get_threshold()
    settings = Settings(ledger_path=tmp_path / "ledger.sqlite3",
                        embedding_cache_dir=None, gc_young_threshold=40_000)
    with TestClient(create_app(settings)) as client:
        assert gc.get_threshold()[0] == 40_000
        assert gc.get_freeze_count() > 0
        metrics = client.get("/metrics").text
        assert 'python_gc_collections_total{generation="0"}' in metrics
        assert "process_resident_memory_bytes" in metrics
        assert client.get("/health/live").status_code == 200
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
