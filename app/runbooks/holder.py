"""The active runbook index, swapped whole on reload (readers never see a half-built index)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from app.metrics import Metrics
from app.runbooks.loader import load_runbooks
from app.runbooks.search import RunbookIndex

log = logging.getLogger("app.runbooks")


class RunbookHolder:
    def __init__(self, directory: Path, metrics: Metrics) -> None:
        self._directory = directory
        self._metrics = metrics
        self._generation = 0
        self._index = RunbookIndex([])

    @property
    def current(self) -> RunbookIndex:
        return self._index

    def load(self) -> None:
        """Initial load: a missing or empty directory is a start-up error."""
        index = RunbookIndex(load_runbooks(self._directory))
        if len(index) == 0:
            raise FileNotFoundError(f"no *.md runbooks in {self._directory}")
        self._activate(index)

    async def reload(self) -> None:
        """Re-index after a change. Answers cached from changed runbooks stop matching: the
        cache key carries the hash of the retrieved text. An empty or unreadable directory
        keeps the last good index."""
        try:
            books = await asyncio.to_thread(load_runbooks, self._directory)
        except OSError as exc:
            self._reject(str(exc))
            return
        index = RunbookIndex(books)
        if len(index) == 0:
            self._reject("no runbooks found; keeping the last good index")
            return
        if index.digest != self._index.digest:
            self._activate(index)

    def _activate(self, index: RunbookIndex) -> None:
        self._index = index
        self._generation += 1
        self._metrics.runbooks_loaded.set(len(index))
        self._metrics.set_config_info("runbooks", self._generation, index.digest)
        self._metrics.config_reloads.labels(kind="runbooks", result="success").inc()
        log.info("runbooks indexed", extra={"fields": {
            "count": len(index), "hash": index.digest, "generation": self._generation}})

    def _reject(self, reason: str) -> None:
        self._metrics.config_reloads.labels(kind="runbooks", result="error").inc()
        log.warning("runbooks reload rejected", extra={"fields": {"reason": reason}})
