"""A checkout published the way git-sync v4 does it, for tests.

Layout under `--root`: each synced commit is a worktree `.worktrees/<hash>/` (with a `.git`
file), and `--link` is a RELATIVE symlink `<link> -> .worktrees/<hash>` (so the volume can be
mounted at another path in the consumer). A sync writes the new worktree, creates `tmp-link`
pointing at it and renames that over the link (atomic), then removes the old worktree (its
default `--stale-worktree-timeout` is 0).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


class GitSyncCheckout:
    def __init__(self, root: Path, files: dict[str, str], link: str = "current") -> None:
        self.root = root
        self.link = root / link
        self.root.mkdir(parents=True, exist_ok=True)
        self.publish(files)

    def publish(self, files: dict[str, str]) -> None:
        digest = hashlib.sha1(repr(sorted(files.items())).encode()).hexdigest()
        worktree = self.root / ".worktrees" / digest
        worktree.mkdir(parents=True)
        (worktree / ".git").write_text(f"gitdir: {self.root}/.git/worktrees/{digest}\n")
        for name, text in files.items():
            (worktree / name).parent.mkdir(parents=True, exist_ok=True)
            (worktree / name).write_text(text, encoding="utf-8")
        old = self.link.resolve() if self.link.is_symlink() else None
        tmp = self.root / "tmp-link"
        os.symlink(os.path.relpath(worktree, self.root), tmp)
        os.replace(tmp, self.link)
        if old is not None:
            shutil.rmtree(old)
