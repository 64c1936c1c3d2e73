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
import zipfile
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

    def get(self, digest: str) -> RunbookVectors | None:
        path = self._path(digest)
        if path is None or not path.exists():
            return None
        try:
            with np.load(path) as data:
                return RunbookVectors(data["units"], data["chunk_of_unit"])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("embedding cache entry unreadable; recomputing",
                        extra={"fields": {"file": str(path), "error": str(exc)}})
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
