"""Dense sentence embeddings from a small static model that ships inside a PyPI wheel.

The model is WordLlama `l2_supercat` (256 dimensions, `wordllama` wheel, MIT): a token-embedding
table with average pooling, so embedding is a table look-up plus a mean, pure numpy on the CPU,
no PyTorch, well under a millisecond a question. The weights (16 MB safetensors, read in
place: tensor_file.py) and the tokenizer are files of the wheel; they are opened here by path,
never through `WordLlama.load()`, whose resolver looks for the tokenizer under the wrong folder
name and would then try to download it from Hugging Face. Nothing is fetched at run time. Why
this model and not the others: docs/retrieval.md.
"""

from __future__ import annotations

import importlib.util
import threading
from importlib import metadata
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from app.runbooks.tensor_file import map_tensor

Matrix = npt.NDArray[np.float32]
WORD_PATH_MIN_TEXTS = 64  # from this many texts on, tokenize distinct words instead of texts
WORD_CHUNK = 256  # texts per chunk of the word path (its temporary memory, not its result)


class Embedder(Protocol):
    model_id: str
    dim: int  # the width of its vectors

    def embed(self, texts: list[str]) -> Matrix:
        """One L2-normalised row per text."""
        ...


class WordLlamaEmbedder:
    """Mean of the token vectors of each text, L2-normalised: WordLlama's own inference (the
    same vectors), done without its padding to the longest text of each batch of 64, which
    dominated the cost of embedding 70,000 sentences."""

    BATCH = 1024  # texts per tokenizer call and per gather: bounds the temporary memory

    def __init__(self) -> None:
        from tokenizers import Tokenizer

        root = _package_dir("wordllama")
        self._tokenizer = Tokenizer.from_file(
            str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        # Kept as stored, float16 (16 MB; 31 MB as float32 was the largest single part of a
        # worker's memory), and read in place from the wheel's file, not into the heap
        # (tensor_file.py): none of it stays resident in the worker. Rows are widened to
        # float32 after the gather, so every vector is bit-for-bit what the float32 table gave.
        self._mapped = map_tensor(root / "weights" / "l2_supercat_256.safetensors",
                                  "embedding.weight")
        self._table = self._mapped.array
        self.dim = int(self._table.shape[1])
        # every id the tokenizer can emit has a row: no clipping needed on the question's path
        self._clip = self._tokenizer.get_vocab_size() > len(self._table)
        self.model_id = f"wordllama-{metadata.version('wordllama')}-l2_supercat-{self.dim}"

    def embed(self, texts: list[str]) -> Matrix:
        few = len(texts) < WORD_PATH_MIN_TEXTS
        if few:
            out = self._by_tokens(texts)
        else:  # a bulk read (an index build touches nearly every row): none stays resident
            out = self._by_words(texts)
            self._mapped.release()
        # np.linalg.norm's own arithmetic for a real matrix along one axis, without its
        # argument handling (a question's embedding is on every paid answer's path); by
        # chunks of rows, each row's sum unchanged, so a bulk read's squares are never a
        # second matrix the size of the result (67 MB at 10,000 sections)
        for start in range(0, len(out), WORD_CHUNK * 16):
            part = out[start:start + WORD_CHUNK * 16]
            norms = np.sqrt(np.add.reduce(part * part, axis=1, keepdims=True))
            # a text with no tokens stays the zero vector: similar to nothing
            np.divide(part, norms, out=part, where=norms > 0)
        return out

    def _in_table(self, ids: list[int]) -> list[int]:
        return np.clip(ids, 0, len(self._table) - 1).tolist() if self._clip else ids

    def _rows(self, ids: list[int]) -> Matrix:
        """A question's rows, read from the file (tensor_file.py: none stays resident)."""
        return self._mapped.rows(self._in_table(ids)).astype(np.float32)

    def _bulk_rows(self, ids: list[int]) -> Matrix:
        """Rows of a bulk read, through the mapping (released when the bulk read ends)."""
        return self._table[self._in_table(ids)].astype(np.float32)

    def _by_tokens(self, texts: list[str]) -> Matrix:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.BATCH):
            encoded = self._tokenizer.encode_batch(texts[start:start + self.BATCH],
                                                   add_special_tokens=False)
            for row, e in enumerate(encoded, start):
                ids = e.ids
                if ids:
                    # the mean as numpy computes it (sum, then one division), minus its
                    # Python-level wrapper: bit-for-bit the same vector
                    np.add.reduce(self._rows(ids), axis=0, out=out[row])
                    out[row] /= len(ids)
        return out

    def _by_words(self, texts: list[str]) -> Matrix:
        """Many texts: tokenize each distinct space-separated word once (the tokenizer does not
        merge across spaces, so a word's tokens are the same alone as in its sentence), then
        each text's mean is (sum of its words' token sums) / (their token count).

        Memory (a cold index build of 10,000 sections embeds ~69,000 units in one call, a 67 MB
        result): the texts become word ids (int32) a chunk at a time, so the word strings of
        every text are never all held at once, and the rows gathered for a chunk's sums stay a
        few MB (WORD_CHUNK texts). Above the result, this call's peak went from 113 to 25 MB
        there (tracemalloc; bench/retrieval.py measures the process)."""
        index: dict[str, int] = {}
        chunks: list[tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]] = []
        for start in range(0, len(texts), WORD_CHUNK):
            word_ids: list[int] = []
            word_counts: list[int] = []
            for text in texts[start:start + WORD_CHUNK]:
                words = text.split()
                word_counts.append(len(words))
                word_ids.extend([index.setdefault(w, len(index)) for w in words])
            chunks.append((np.array(word_ids, dtype=np.int32),
                           np.array(word_counts, dtype=np.int64)))
        vocab = list(index)
        del index
        word_sum = np.zeros((len(vocab) + 1, self.dim), dtype=np.float32)  # last row: padding
        word_len = np.zeros(len(vocab) + 1, dtype=np.float32)
        for start in range(0, len(vocab), self.BATCH * 8):
            encoded = self._tokenizer.encode_batch(vocab[start:start + self.BATCH * 8],
                                                   add_special_tokens=False)
            for row, e in enumerate(encoded, start):
                if e.ids:
                    word_sum[row] = self._bulk_rows(e.ids).sum(0)
                    word_len[row] = len(e.ids)
        del vocab
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for n, (flat, counts) in enumerate(chunks):
            filled = counts > 0
            if not filled.any():
                continue
            offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))[filled]
            sums = np.add.reduceat(word_sum[flat], offsets, axis=0)
            lengths = np.add.reduceat(word_len[flat], offsets)
            target = n * WORD_CHUNK + np.flatnonzero(filled)
            out[target] = sums / np.maximum(lengths, 1.0)[:, None]
        return out


def _package_dir(name: str) -> Path:
    """Where an installed package's files are, without importing it: the model's files are all
    we use, and `import wordllama` would also load its inference stack and call
    logging.basicConfig() on the root logger."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the {name} wheel (embedding model files) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


_lock = threading.Lock()
_default: WordLlamaEmbedder | None = None


def default_embedder() -> WordLlamaEmbedder:
    """The process-wide model, loaded once (about 0.5 s) on first use, from any thread."""
    global _default
    with _lock:
        if _default is None:
            _default = WordLlamaEmbedder()
        return _default
