"""The holder builds the index in a worker thread, re-embeds only what changed, reads the rest
from the disk cache across restarts, and turns a bad or empty corpus into readiness reasons."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from app.metrics import Metrics
from app.runbooks.embedder import Matrix, default_embedder
from app.runbooks.holder import RunbookHolder


class CountingEmbedder:
    """The real model, counting the texts it embeds and the threads it runs on."""

    def __init__(self) -> None:
        self._model = default_embedder()
        self.model_id = self._model.model_id
        self.dim = self._model.dim
        self.texts = 0
        self.threads: set[int] = set()

    def embed(self, texts: list[str]) -> Matrix:
        self.texts += len(texts)
        self.threads.add(threading.get_ident())
        return self._model.embed(texts)


def corpus(root: Path, n: int = 3) -> None:
    for i in range(n):
        (root / f"book-{i}.md").write_text(
            f"# Book {i}\n## Meaning\nAbout subject{i} remedy{i} fixture{i}.\n## Mitigation\nFix.")


def holder(root: Path, cache: Path | None, embedder: CountingEmbedder) -> tuple[
        RunbookHolder, Metrics]:
    metrics = Metrics(CollectorRegistry())
    return RunbookHolder(root, metrics, cache_dir=cache, embedder=lambda: embedder), metrics


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    assert value is not None
    return value


async def test_an_edit_re_embeds_only_the_edited_file_off_the_event_loop(tmp_path: Path) -> None:
    books = tmp_path / "books"
    books.mkdir()
    corpus(books)
    emb = CountingEmbedder()
    h, metrics = holder(books, None, emb)
    h.load()
    first = emb.texts
    assert first > 0
    (books / "book-1.md").write_text("# Book 1\n## Meaning\nEdited: quark1 lepton1 boson1.")
    emb.threads.clear()
    await h.reload()
    units_of_the_edit = 3  # title, the section, its one sentence
    assert emb.texts - first == units_of_the_edit
    assert threading.get_ident() not in emb.threads  # embedded in a worker thread
    assert "Edited" in h.current.search("quark1 lepton1 boson1", limit=1).hits[0].chunk.text
    assert sample(metrics, "ai_runbooks_embedded_total", source="model") == 4


async def test_a_restart_reads_unchanged_embeddings_from_the_disk_cache(tmp_path: Path) -> None:
    books, cache = tmp_path / "books", tmp_path / "cache"
    books.mkdir()
    corpus(books)
    before = CountingEmbedder()
    holder(books, cache, before)[0].load()
    assert before.texts > 0
    after = CountingEmbedder()
    restarted, metrics = holder(books, cache, after)
    restarted.load()
    assert after.texts == 0
    assert sample(metrics, "ai_runbooks_embedded_total", source="cache") == 3
    assert restarted.current.search("subject2 remedy2 fixture2").sources == ["book-2"]


def test_a_corrupt_cache_entry_is_recomputed(tmp_path: Path) -> None:
    books, cache = tmp_path / "books", tmp_path / "cache"
    books.mkdir()
    corpus(books, 1)
    holder(books, cache, CountingEmbedder())[0].load()
    for entry in cache.rglob("*.npz"):
        entry.write_bytes(b"not a zip")
    emb = CountingEmbedder()
    h = holder(books, cache, emb)[0]
    h.load()
    assert emb.texts > 0 and len(h.current) == 1


async def test_a_bad_file_that_comes_or_goes_without_changing_the_index_is_reported(
        tmp_path: Path) -> None:
    books = tmp_path / "books"
    books.mkdir()
    corpus(books, 1)
    h, metrics = holder(books, None, CountingEmbedder())
    h.load()
    (books / "bad.md").write_bytes(b"# Bad\n## Fix\n\xff\xfe not utf-8\n")
    await h.reload()
    assert [(s.path, s.reason) for s in h.skipped] == [("bad", "not_utf8")]
    assert sample(metrics, "ai_runbooks_skipped", reason="not_utf8") == 1
    (books / "bad.md").unlink()
    await h.reload()
    assert h.skipped == [] and sample(metrics, "ai_runbooks_skipped", reason="not_utf8") == 0


def _bare_array(path: Path) -> None:
    with path.open("wb") as f:
        np.save(f, np.zeros(3))


def _other_width(path: Path) -> None:
    with np.load(path) as data:
        units, owner = data["units"], data["chunk_of_unit"]
    with path.open("wb") as f:
        np.savez(f, units=units[:, :4], chunk_of_unit=owner)


def _fewer_sections(path: Path) -> None:
    with np.load(path) as data:
        units, owner = data["units"], data["chunk_of_unit"]
    keep = owner < owner.max()  # the last section's units gone: the file changed its split
    with path.open("wb") as f:
        np.savez(f, units=units[keep], chunk_of_unit=owner[keep])


@pytest.mark.parametrize("damage", [
    lambda path: path.write_bytes(b""),  # a write cut by a power loss
    _bare_array, _other_width, _fewer_sections,
], ids=["empty", "bare-array", "other-width", "fewer-sections"])
def test_a_cache_entry_of_the_wrong_shape_is_recomputed_not_a_crash(
        tmp_path: Path, damage: Callable[[Path], None]) -> None:
    """These crashed the start-up (EOFError, TypeError, ValueError, IndexError)."""
    books, cache = tmp_path / "books", tmp_path / "cache"
    books.mkdir()
    corpus(books, 2)
    holder(books, cache, CountingEmbedder())[0].load()
    for entry in cache.rglob("*.npz"):
        damage(entry)
    emb = CountingEmbedder()
    h = holder(books, cache, emb)[0]
    h.load()
    assert h.problem is None and len(h.current) == 2 and emb.texts > 0


@pytest.mark.parametrize("make", ["missing", "empty", "only_bad"])
def test_no_usable_runbooks_at_start_is_not_ready_with_a_reason(
    tmp_path: Path, make: str
) -> None:
    books = tmp_path / "books"
    if make != "missing":
        books.mkdir()
    if make == "only_bad":
        (books / "bad.md").write_bytes(b"\xff\xfe not utf-8")
    h, metrics = holder(books, None, CountingEmbedder())
    h.load()  # no exception: the pod stays up and says why it is not ready
    assert len(h.current) == 0
    assert h.problem
    if make == "only_bad":
        assert [s.reason for s in h.skipped] == ["not_utf8"]
        assert sample(metrics, "ai_runbooks_skipped", reason="not_utf8") == 1


async def test_bad_files_are_reported_and_a_broken_reload_keeps_the_last_index(
    tmp_path: Path,
) -> None:
    books = tmp_path / "books"
    books.mkdir()
    corpus(books, 2)
    (books / "huge.md").write_text("# Huge\n## Meaning\n" + "x" * 300_000)
    h, metrics = holder(books, None, CountingEmbedder())
    h.load()
    assert len(h.current) == 2 and h.problem is None
    assert [(s.path, s.reason) for s in h.skipped] == [("huge", "too_large")]
    assert sample(metrics, "ai_runbooks_skipped", reason="too_large") == 1
    digest = h.current.digest
    for path in books.iterdir():
        path.unlink()
    await h.reload()
    assert h.current.digest == digest  # the last good index still serves
    assert sample(metrics, "ai_config_reloads_total", kind="runbooks", result="error") == 1
    assert sample(metrics, "ai_config_rejected", kind="runbooks") == 1
    corpus(books, 2)  # the same two runbooks back: the index in effect is the newest again
    await h.reload()
    assert h.current.digest == digest
    assert sample(metrics, "ai_config_rejected", kind="runbooks") == 0
    (books / "book-1.md").unlink()
    await h.reload()
    assert len(h.current) == 1
    assert sample(metrics, "ai_config_rejected", kind="runbooks") == 0


class Cycle:
    """Cyclic garbage: only the collector frees it, as requests leave behind (tracebacks)."""

    def __init__(self) -> None:
        self.me = self


async def test_a_re_index_frees_the_cyclic_garbage_requests_left_instead_of_freezing_it(
        tmp_path: Path) -> None:
    """A build freezes what is alive so no collection walks the new index again. Garbage from
    requests, waiting for the next young collection, must not be frozen with it: on every
    re-index it would be kept for the life of the pod."""
    books = tmp_path / "books"
    books.mkdir()
    corpus(books)
    h, _ = holder(books, None, CountingEmbedder())
    h.load()
    was_enabled = gc.isenabled()
    gc.disable()  # no automatic collection may free it first: only the re-index's own steps
    try:
        garbage = Cycle()
        gone = weakref.ref(garbage)
        del garbage
        await h.reload()
    finally:
        if was_enabled:
            gc.enable()
    gc.collect()  # a frozen object is never collected
    assert gone() is None
