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


def stack_units(parts: list[RunbookVectors]) -> Matrix:
    """The runbooks' units as one matrix, in order. When they already are consecutive rows of
    one matrix, covering all of it (a cold build embeds every runbook in one call, in index
    order: embed_runbooks), that matrix itself, not a second copy of it: at 10,000 sections the
    copy was 67 MB more at the build's peak. A re-index mixes reused and new rows: a copy."""
    if not parts:
        return np.zeros((0, 1), dtype=np.float32)
    base = parts[0].units.base
    if (isinstance(base, np.ndarray) and base.ndim == 2 and base.flags.c_contiguous
            and base.dtype == np.float32):
        row_bytes = base.strides[0]
        at = base.ctypes.data
        for p in parts:
            if p.units.base is not base or p.units.ctypes.data != at:
                break
            at += p.units.shape[0] * row_bytes
        else:
            if at == base.ctypes.data + base.shape[0] * row_bytes:
                return base
    return np.vstack([p.units for p in parts])


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


def embed_runbooks(runbooks: list[Runbook], embedder: Embedder) -> list[RunbookVectors]:
    """One embedding call for all of them (the model is fastest on large batches)."""
    texts: list[str] = []  # lower-cased as they are collected: one list of them, not two
    spans: list[tuple[int, list[int]]] = []
    for rb in runbooks:
        t, c = units_of(rb)
        spans.append((len(texts), c))
        texts.extend(x.lower() for x in t)
    matrix = embedder.embed(texts)
    del texts
    # Views, in order, into the one matrix (row slices of it are contiguous already): the index
    # takes that matrix as is when these are all its runbooks (search.stack_units).
    return [RunbookVectors(matrix[start:start + len(c)], np.asarray(c, dtype=np.int32))
            for start, c in spans]
