"""The dense model comes inside the wheel: it loads with no network and gives sane vectors."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from app.runbooks.embedder import WordLlamaEmbedder


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
