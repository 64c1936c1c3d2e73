"""Polling watchers for mounted ConfigMaps: the policy file and the runbooks directory.

The kubelet updates a ConfigMap volume atomically: it writes the new keys into a fresh
`..<timestamp>` directory, points a new `..data_tmp` symlink at it and renames that over `..data`;
`policy.yaml` itself is a symlink to `..data/policy.yaml`. Events on the path we were told about
(inotify on `policy.yaml`) never fire, and a `subPath` mount never updates at all. So each
interval we stat the path with symlinks resolved (cheap) and, when that changed, compare a hash
of the content. Polling also works for a plain file edited in place (`make run`).

Each watcher has a synchronous `check()` (one poll; what the tests drive) and `run()`, the loop
the lifespan starts, which calls `check()` every interval and never dies of an error.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app.runbooks.tree import markdown_entries

if TYPE_CHECKING:
    from app.policy_source import PolicyManager, ReloadOutcome

log = logging.getLogger("app.policy")

OutcomeHook = Callable[["ReloadOutcome"], Awaitable[None] | None]
StatKey = tuple[str, int, int, int]
FileKey = tuple[int, int, int]  # inode, size, mtime (ns) of the file behind the symlinks


def _stat_key(path: Path) -> StatKey:
    """Identity of the file behind all symlinks: a `..data` swap changes the real path/inode."""
    real = os.path.realpath(path)
    st = os.stat(real)
    return real, st.st_ino, st.st_size, st.st_mtime_ns


def _file_key(entry: os.DirEntry[str]) -> FileKey:
    st = entry.stat()  # follows symlinks: a ConfigMap's `..data` swap shows as a new inode
    return st.st_ino, st.st_size, st.st_mtime_ns


async def _every(interval_seconds: float, check: Callable[[], Awaitable[None]], what: str) -> None:
    while True:
        try:
            await check()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s watcher check failed; retrying next interval", what)
        await asyncio.sleep(interval_seconds)


class FilePolicyWatcher:
    """Reloads the policy when the (mounted) policy file's content changes."""

    def __init__(
        self,
        path: Path,
        manager: PolicyManager,
        interval_seconds: float,
        *,
        on_outcome: OutcomeHook | None = None,
    ) -> None:
        self.path = path
        self._manager = manager
        self._interval = interval_seconds
        self._on_outcome = on_outcome
        self._stat: StatKey | None = None
        self._content_hash: str | None = None
        self._missing = False
        self._empty = False  # the file was empty at the last poll (logged once)

    def check(self) -> ReloadOutcome | None:
        """One poll. Returns the reload outcome when the content changed, else None."""
        try:
            key = _stat_key(self.path)
            if key == self._stat:
                return None
            data = self.path.read_bytes()
        except OSError as exc:
            # Vanished (mid-swap, or the key was removed): keep the last good policy, log once.
            if not self._missing:
                log.warning(
                    "policy file %s unreadable, keeping the active policy: %s",
                    self.path,
                    exc.strerror or exc,
                    extra={"origin": f"file:{self.path}"},
                )
            self._missing = True
            self._stat = None
            return None
        self._missing = False
        self._stat = key
        if not data.strip():
            # Edited in place and read between its truncation and its write: an empty document
            # would apply every default (team budgets gone, the built-in hourly limit). Kept
            # out like a vanished file; `{}` is how to ask for the defaults on purpose.
            if not self._empty:
                log.warning("policy file %s is empty, keeping the active policy (write {} for "
                            "the defaults)", self.path, extra={"origin": f"file:{self.path}"})
            self._empty = True
            return None
        self._empty = False
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._content_hash:
            return None
        # Remember rejected content too: a bad document is reported once, not every second.
        self._content_hash = digest
        return self._manager.apply_text(data.decode("utf-8", "replace"), f"file:{self.path}")

    async def check_and_report(self) -> ReloadOutcome | None:
        outcome = self.check()
        if outcome is not None and self._on_outcome is not None:
            result = self._on_outcome(outcome)
            if inspect.isawaitable(result):
                await result
        return outcome

    async def run(self) -> None:
        async def step() -> None:
            await self.check_and_report()

        await _every(self._interval, step, "policy file")


class DirectoryWatcher:
    """Calls `on_change` when the set of runbook files under a directory (app/runbooks/tree.py),
    or their content, changes.

    The signature is taken once at construction, which the runtime does just BEFORE its first
    load: a change during that load differs from it and triggers `on_change` at the first
    poll (app/runtime.py). Kubelet internals (`..data`, `..<timestamp>`)
    and other dot-paths are skipped; the visible names follow the `..data` swap: each file is
    stat'ed through its symlinks, and a swapped-in file is a new inode.

    Each poll lists the tree and stats every file, every interval, forever; content is read and
    hashed only when a stat changed. It runs in a worker thread, not on the event loop: on the
    loop, at 2,000 runbooks, it held every request in flight 66-76 ms once a second, and on NFS
    each stat is a round trip (bench/runbook_watch.py, bench/results/runbook-watch.md).
    """

    def __init__(
        self,
        directory: Path,
        on_change: Callable[[], Awaitable[None] | None],
        interval_seconds: float,
    ) -> None:
        self.directory = directory
        self._on_change = on_change
        self._interval = interval_seconds
        self._stats: tuple[tuple[str, FileKey], ...] | None = None
        self._signature = self._scan()

    def _scan(self) -> tuple[tuple[str, str], ...] | None:
        """(id, content hash) of each runbook, or None when the directory cannot be read
        consistently right now (missing, or a file vanished mid-swap): try again next time."""
        try:
            if not self.directory.is_dir():
                raise FileNotFoundError(2, "not a directory", str(self.directory))
            entries = markdown_entries(self.directory)
            stats = tuple((runbook_id, _file_key(entry)) for runbook_id, entry in entries)
            if stats == self._stats:
                return self._signature
            signature = tuple(
                (runbook_id, hashlib.sha256(Path(entry.path).read_bytes()).hexdigest())
                for runbook_id, entry in entries
            )
        except OSError as exc:
            log.warning(
                "runbooks directory %s unreadable this time: %s",
                self.directory,
                exc.strerror or exc,
            )
            return None
        self._stats = stats
        return signature

    async def check(self) -> bool:
        """One poll. Returns True when a change was seen and `on_change` was called."""
        signature = await asyncio.to_thread(self._scan)
        if signature is None or signature == self._signature:
            return False
        self._signature = signature
        log.info(
            "runbooks in %s changed (%d files); re-indexing",
            self.directory,
            len(signature),
            extra={"runbooks": len(signature)},
        )
        try:
            result = self._on_change()
            if inspect.isawaitable(result):
                await result
        except Exception:
            # Not retried every second: the next change triggers it again.
            log.exception("re-indexing runbooks after a change failed")
        return True

    async def run(self) -> None:
        async def step() -> None:
            await self.check()

        await _every(self._interval, step, "runbooks directory")
