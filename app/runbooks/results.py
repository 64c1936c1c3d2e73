"""What a search returns: the hits, and the digests a cached answer is checked against."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from app.runbooks.loader import Chunk

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float


@dataclass(frozen=True)
class SearchResult:
    hits: tuple[Hit, ...]
    corpus: str = ""  # digest of the index searched
    # The question's embedding (dense and hybrid modes): the semantic cache reuses it, so a
    # question is embedded once. `space` names the model, as vectors of two models never meet.
    vector: Vector | None = field(default=None, compare=False, repr=False)
    space: str = ""

    @property
    def answerable(self) -> bool:
        return bool(self.hits)

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(h.chunk.runbook_id for h in self.hits))

    @property
    def section_digests(self) -> tuple[str, ...]:
        """What an answer built on these sections depends on: its cache entry records them."""
        return tuple(section_digest(h.chunk) for h in self.hits)

    @property
    def context_hash(self) -> str:
        """Changes whenever any retrieved text changes: questions whose answers may be shared
        (the semantic cache) must have retrieved the same sections, word for word."""
        return hashlib.sha256("".join(self.section_digests).encode()).hexdigest()[:16]


def section_digest(chunk: Chunk) -> str:
    """One section's identity and text: changes with any edit to it, and only to it."""
    h = hashlib.sha256()
    for part in (chunk.runbook_id, chunk.section, chunk.text):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]
