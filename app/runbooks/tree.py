"""Which files under a runbooks directory are runbooks: one walk, for the loader and the watcher.

Every `*.md` below the directory, recursively, its id the path under the directory without
`.md`. Dot-entries are skipped: a mounted ConfigMap's `..data` and timestamped folders, whose
files are reached through the visible symlinks, and `.git`. Folders are followed through
symlinks (a git-sync checkout, a volume laid out with links), each real folder once: a link back
to a folder already walked (`up -> ..`) would otherwise list every runbook under it again, once
per level, until the kernel's 40-link limit (41 copies of each runbook, measured). Entries are
walked in name order, so which path of a folder linked twice gives the ids does not change
between two walks. A folder that cannot be read is skipped, as `os.walk` does.

The watcher polls this every second forever (app/config_watch/file_watch.py), so it stays cheap:
`os.scandir` (the kind of each entry comes with the listing) and one `stat` per file, no path
objects per file (bench/runbook_watch.py: 2,000 runbooks in 66 ms per poll with `os.walk`,
`Path` and `realpath` per file; now: bench/results/runbook-watch.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator


def markdown_entries(directory: str | os.PathLike[str]) -> list[tuple[str, os.DirEntry[str]]]:
    """(id, entry) of every runbook file under `directory`, sorted by id."""
    found: list[tuple[str, os.DirEntry[str]]] = []
    walked: set[tuple[int, int]] = set()
    for prefix, entry in _walk(os.fspath(directory), "", walked):
        found.append((prefix + entry.name[:-3], entry))
    found.sort(key=lambda item: item[0])
    return found


def _walk(folder: str, prefix: str,
          walked: set[tuple[int, int]]) -> Iterator[tuple[str, os.DirEntry[str]]]:
    try:
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in walked:
            return
        walked.add((st.st_dev, st.st_ino))
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        try:
            is_folder = entry.is_dir()  # through a symlink too
        except OSError:
            is_folder = False
        if is_folder:
            yield from _walk(entry.path, f"{prefix}{name}/", walked)
        elif name.endswith(".md"):
            yield prefix, entry
