"""The garbage collector set for serving (app/gc_tuning.py): frozen and raised once ready, and
put back as it was when the app shuts down (tests build many apps in one interpreter); paused
while a large heap is built (the start-up imports, an index build), then frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.gc_tuning import collector_paused, tune_collector
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
    with collector_paused():  # as the start-up imports are
        built = [object()]
    assert gc.get_freeze_count() > 0
    restore = tune_collector(0)
    assert any(o is built for o in gc.get_objects())  # collectable again
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


def test_a_pause_runs_no_collection_then_freezes_what_it_built() -> None:
    assert gc.isenabled()
    collections = [s["collections"] for s in gc.get_stats()]
    with collector_paused():
        assert not gc.isenabled()
        built: list[list[int]] = [[] for _ in range(20_000)]  # a collection, if it were on
    assert [s["collections"] for s in gc.get_stats()] == collections
    assert gc.isenabled()
    assert not any(o is built for o in gc.get_objects())  # frozen: no collection walks it


def test_pauses_nest_and_an_error_still_ends_the_pause() -> None:
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()  # the outer pause is still on
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("import failed")
    assert gc.isenabled()
