"""Dense sentence embeddings from a small static model that ships inside a PyPI wheel.

The model is WordLlama `l2_supercat` (256 dimensions, `wordllama` wheel, MIT): a token-embedding
table with average pooling, so embedding is a table look-up plus a mean, pure numpy on the CPU,
no PyTorch, ~0.3 ms a question. The weights (16 MB safetensors) and the tokenizer are files of
the wheel; they are opened here by path, never through `WordLlama.load()`, whose resolver looks
for the tokenizer under the wrong folder name and would then try to download it from Hugging
Face. Nothing is fetched at run time. Why this model and not the others: docs/retrieval.md.
"""

from __future__ import annotations

import threading
from importlib import metadata
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]


class Embedder(Protocol):
    model_id: str

    def embed(self, texts: list[str]) -> Matrix:
        """One L2-normalised row per text."""
        ...


class WordLlamaEmbedder:
    def __init__(self) -> None:
        import wordllama
        from safetensors import safe_open
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference

        root = Path(wordllama.__file__).parent
        tokenizer = Tokenizer.from_file(
            str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
        with safe_open(str(root / "weights" / "l2_supercat_256.safetensors"), framework="np") as f:
            table = f.get_tensor("embedding.weight")
        self._model = WordLlamaInference(table, tokenizer)
        self.model_id = f"wordllama-{metadata.version('wordllama')}-l2_supercat-256"

    def embed(self, texts: list[str]) -> Matrix:
        if not texts:
            return np.zeros((0, 256), dtype=np.float32)
        vectors = np.asarray(self._model.embed(texts, norm=True), dtype=np.float32)
        return vectors


_lock = threading.Lock()
_default: WordLlamaEmbedder | None = None


def default_embedder() -> WordLlamaEmbedder:
    """The process-wide model, loaded once (about 0.5 s) on first use, from any thread."""
    global _default
    with _lock:
        if _default is None:
            _default = WordLlamaEmbedder()
        return _default
