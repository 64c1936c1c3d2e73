"""The dense model comes inside the wheel: it loads with no network and gives sane vectors."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from app.runbooks.embedder import WordLlamaEmbedder

QUESTIONS = Path(__file__).resolve().parents[3] / "eval" / "questions" / "ours.yaml"


def test_the_model_loads_and_embeds_with_the_network_cut_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the embedding model tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    model = WordLlamaEmbedder()  # a fresh load, not the process-wide one
    vectors = model.embed(["node not ready", "kubelet stopped posting node status",
                           "sourdough bread recipe"])
    assert vectors.shape == (3, 256) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    related, unrelated = vectors[1] @ vectors[0], vectors[2] @ vectors[0]
    assert related > unrelated
    assert model.model_id.startswith("wordllama-")


def test_no_texts_is_an_empty_matrix() -> None:
    assert WordLlamaEmbedder().embed([]).shape == (0, 256)


def _float32_reference(texts: list[str]) -> np.ndarray:
    """The model's own definition: the L2-normalised mean of each text's token vectors, from
    the table widened to float32 as a whole (how the embedder held it before)."""
    model = WordLlamaEmbedder()
    table = model._table.astype(np.float32)
    out = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
    for row, e in enumerate(model._tokenizer.encode_batch(texts, add_special_tokens=False)):
        if e.ids:
            out[row] = table[np.clip(e.ids, 0, len(table) - 1)].mean(axis=0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def test_the_table_stays_float16_and_the_vectors_are_the_float32_ones() -> None:
    model = WordLlamaEmbedder()
    assert model._table.dtype == np.float16  # 16 MB resident, not 31
    few = ["node not ready", "etcd leader election lost", ""]
    assert np.array_equal(model.embed(few), _float32_reference(few))
    questions = [q["q"] for q in yaml.safe_load(QUESTIONS.read_text())["questions"]]
    for question in questions:  # one at a time, as /ask embeds them: bit for bit
        assert np.array_equal(model.embed([question]), _float32_reference([question])), question
    many = [f"pod {i} OOMKilled in namespace team-{i % 7}" for i in range(80)]  # the word path
    assert np.allclose(model.embed(many), _float32_reference(many), atol=1e-6)


def test_loading_the_model_does_not_import_its_package() -> None:
    """Only the wheel's files are read: `import wordllama` would load its inference stack and
    call logging.basicConfig() on our root logger."""
    code = ("import sys; from app.runbooks.embedder import WordLlamaEmbedder; "
            "WordLlamaEmbedder().embed(['disk full']); "
            "assert 'wordllama' not in sys.modules, 'imported'")
    # Pipes captured: the timeout is then a poll() on them, not Popen.wait()'s time.sleep()
    # loop, which libfaketime (the suite a year ahead, monotonic clock untouched) fails with
    # EINVAL.
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


def test_the_table_is_read_in_place_and_none_of_it_stays_resident() -> None:
    """An index build reads nearly every row of the 16 MB table; afterwards the worker holds
    none of it, and a question reads its rows without mapping any."""
    from app.runbooks.embedder import _package_dir
    from tests.unit.runbooks.test_tensor_file import resident_kib

    weights = _package_dir("wordllama") / "weights" / "l2_supercat_256.safetensors"
    model = WordLlamaEmbedder()
    questions = [q["q"] for q in yaml.safe_load(QUESTIONS.read_text())["questions"]]
    runbooks = [p.read_text() for p in sorted((QUESTIONS.parents[2] / "runbooks").glob("*.md"))]
    assert resident_kib(weights) == 0
    bulk = model.embed(runbooks + questions)  # the word path, as an index build embeds
    assert resident_kib(weights) == 0
    for question in questions:
        assert np.array_equal(model.embed([question]), _float32_reference([question]))
    assert np.allclose(bulk[len(runbooks):], _float32_reference(questions), atol=1e-6)
    assert resident_kib(weights) == 0  # 108 questions read, none of the table mapped in
    model._table[:, 0].sum()  # what the release drops: the mapping's pages, once touched
    assert resident_kib(weights) > 8 * 1024
    model.embed(runbooks + questions)
    assert resident_kib(weights) == 0
