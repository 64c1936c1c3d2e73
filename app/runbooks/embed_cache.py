"""Runbook embeddings on disk, keyed by the model and the runbook's content hash.

A restart over an unchanged corpus reads its embeddings instead of recomputing them, and an edit
re-embeds only the edited files (the others' hashes are unchanged). One `.npz` per runbook under
`<directory>/<model id>/`, written to a temporary name and renamed, so a crash never leaves a
half-written entry that a later start would trust. An unreadable entry is recomputed; a
directory that cannot be written (read-only volume) makes the cache a no-op with one warning:
the service still serves, it just embeds on every start.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from app.runbooks.vectors import UNITS_VERSION, RunbookVectors

log = logging.getLogger("app.runbooks")


class EmbeddingCache:
    def __init__(self, directory: Path | None, model_id: str) -> None:
        self._dir = directory / f"{model_id}-units{UNITS_VERSION}" if directory else None
        self._warned = False

    def _path(self, digest: str) -> Path | None:
        return self._dir / f"{digest}.npz" if self._dir is not None else None

    def get(self, digest: str, *, dim: int, sections: int) -> RunbookVectors | None:
        """The entry, if it reads as the vectors of a runbook of `sections` sections embedded
        in `dim` dimensions; else None (recomputed). A 0-byte file (a write cut by a power
        loss), a bare array, or vectors of another shape crashed the start-up, or worse, were
        paired with the wrong sections."""
        path = self._path(digest)
        if path is None or not path.exists():
            return None
        try:
            with np.load(path) as data:
                vectors = RunbookVectors(data["units"], data["chunk_of_unit"])
            units, owner = vectors.units, vectors.chunk_of_unit
            if not (units.ndim == 2 and units.shape[1] == dim and owner.ndim == 1
                    and len(owner) == units.shape[0] and len(owner) > sections
                    and int(owner.max(initial=-1)) == sections - 1):
                raise ValueError(f"shape {units.shape} / {owner.shape} is not a runbook of "
                                 f"{sections} sections in {dim} dimensions")
            return vectors
        except Exception as exc:
            log.warning("embedding cache entry unreadable; recomputing",
                        extra={"fields": {"file": str(path), "error": repr(exc)}})
            return None

    def put(self, digest: str, vectors: RunbookVectors) -> None:
        path = self._path(digest)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                np.savez(f, units=vectors.units, chunk_of_unit=vectors.chunk_of_unit)
            os.replace(tmp, path)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("embedding cache not writable; embeddings are recomputed on start",
                            extra={"fields": {"directory": str(self._dir), "error": str(exc)}})
