"""What the dense model sees of a runbook, and the embeddings of one runbook.

A static embedding model averages its tokens, so a whole section's vector drifts towards the
section's common words. Each runbook is therefore embedded as small units: its title, then each
sentence or list item of each section (at least 16 characters, at most 400). A question is
compared with every unit; a runbook scores its best unit, a section the best of its own units.
Units and questions are embedded lower-cased: the answer cache folds case in its key, so two
questions that share a cache entry must retrieve the same sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.runbooks.embedder import Embedder, Matrix
from app.runbooks.loader import Runbook

_SPLIT = re.compile(r"\n\s*\n|(?<=[.!?])\s+|\n\s*[-*+] |\n\s*\d+\. ")
MIN_UNIT_CHARS = 16
MAX_UNIT_CHARS = 400
TITLE = -1  # the chunk index of the title unit: it speaks for every section
UNITS_VERSION = 1  # bump when units_of changes: the embedding cache keys on it


@dataclass(frozen=True)
class RunbookVectors:
    units: Matrix  # (n_units, dim), L2-normalised; row 0 is the title
    chunk_of_unit: npt.NDArray[np.int32]  # (n_units,), TITLE for row 0


def units_of(runbook: Runbook) -> tuple[list[str], list[int]]:
    texts, chunks = [runbook.title], [TITLE]
    for n, chunk in enumerate(runbook.chunks):
        texts.append(f"{chunk.section}: {chunk.text[:MAX_UNIT_CHARS]}" if chunk.section else
                     chunk.text[:MAX_UNIT_CHARS])
        chunks.append(n)
        for part in _SPLIT.split(chunk.text):
            part = part.strip()
            if len(part) >= MIN_UNIT_CHARS:
                texts.append(part[:MAX_UNIT_CHARS])
                chunks.append(n)
    return texts, chunks


def embed_runbooks(runbooks: list[Runbook],
                   embedder: Embedder) -> tuple[Matrix, list[RunbookVectors]]:
    """One embedding call for all of them (the model is fastest on large batches): the matrix
    of every unit, in order, and each runbook's rows of it as a view."""
    texts: list[str] = []  # lower-cased as they are collected: one list of them, not two
    spans: list[tuple[int, list[int]]] = []
    for rb in runbooks:
        t, c = units_of(rb)
        spans.append((len(texts), c))
        texts.extend(x.lower() for x in t)
    matrix = embedder.embed(texts)
    del texts
    # row slices of the matrix are contiguous already: views, not copies
    return matrix, [RunbookVectors(matrix[start:start + len(c)], np.asarray(c, dtype=np.int32))
                    for start, c in spans]
