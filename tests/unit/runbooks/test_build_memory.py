"""An index build's memory: the embeddings are held once, and the bulk embedding path works a
chunk at a time without changing a single vector (its peak, measured: bench/retrieval.py)."""

from __future__ import annotations

import platform

import numpy as np

from app.config import BUNDLED_RUNBOOKS
from app.heap_trim import trim_heap
from app.runbooks.embedder import WORD_CHUNK, Matrix, WordLlamaEmbedder
from app.runbooks.loader import Runbook, load_runbooks, parse_runbook
from app.runbooks.search import RunbookIndex
from tests.unit.runbooks.test_embedder import _float32_reference


class Recording:
    """The real embedder, keeping what it returned (to see whether the index copied it)."""

    def __init__(self) -> None:
        self._model = WordLlamaEmbedder()
        self.model_id = self._model.model_id
        self.dim = self._model.dim
        self.returned: list[Matrix] = []

    def embed(self, texts: list[str]) -> Matrix:
        out = self._model.embed(texts)
        self.returned.append(out)
        return out


def runbooks() -> list[Runbook]:
    return load_runbooks(BUNDLED_RUNBOOKS)


def test_a_cold_index_holds_the_embedding_matrix_itself_not_a_copy() -> None:
    embedder = Recording()
    books = runbooks()
    index = RunbookIndex(books, embedder=embedder)
    [matrix] = embedder.returned  # one call for every runbook
    assert index._units is matrix
    for rb in books:
        assert np.shares_memory(index.vectors[rb.digest].units, matrix)


def test_a_reindex_mixing_reused_and_new_rows_stacks_them_in_order() -> None:
    embedder = Recording()
    books = runbooks()
    first = RunbookIndex(books, embedder=embedder)
    markdown = (BUNDLED_RUNBOOKS / f"{books[3].id}.md").read_text()
    edited = parse_runbook(books[3].id, markdown + "\n## Edit\n\nScale the pool now.\n")
    again = [*books[:3], edited, *books[4:]]
    second = RunbookIndex(again, vectors=first.vectors, embedder=embedder)
    assert len(embedder.returned) == 2  # only the edited runbook embedded again
    assert not np.shares_memory(second._units, first._units)
    expected = np.vstack([second.vectors[rb.digest].units for rb in again])
    assert np.array_equal(second._units, expected)
    for rb in [*books[:3], *books[4:]]:
        assert np.array_equal(second.vectors[rb.digest].units, first.vectors[rb.digest].units)


def test_the_word_path_across_chunks_gives_every_text_its_own_vector() -> None:
    """More texts than one normalisation chunk (16 word chunks), with texts that have no
    words on both sides of each chunk boundary: each row is its text's mean, empties stay 0."""
    n = WORD_CHUNK * 16 + WORD_CHUNK + 3
    empty = {0, WORD_CHUNK - 1, WORD_CHUNK, WORD_CHUNK * 16 - 1, WORD_CHUNK * 16, n - 1}
    texts = ["" if i in empty else f"pod {i} OOMKilled in namespace team-{i % 7}"
             for i in range(n)]
    vectors = WordLlamaEmbedder().embed(texts)
    assert vectors.shape == (n, 256)
    assert not vectors[sorted(empty)].any()
    assert np.allclose(vectors, _float32_reference(texts), atol=1e-6)


def test_the_heap_is_trimmed_where_the_c_library_can() -> None:
    assert trim_heap() is (platform.libc_ver()[0] == "glibc")
