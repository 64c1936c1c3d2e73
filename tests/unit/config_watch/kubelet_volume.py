"""A ConfigMap volume updated the way the kubelet does it (its AtomicWriter), for tests.

Layout: `..<timestamp>/` holds the keys, `..data` -> that directory, and each key is a
symlink `<key> -> ..data/<key>`. An update writes a new timestamped directory, points a new
`..data_tmp` symlink at it, renames that over `..data` (atomic), fixes the key symlinks and
removes the old directory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class ConfigMapVolume:
    def __init__(self, root: Path, files: dict[str, str]) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._sequence = 0
        self.update(files)

    def update(self, files: dict[str, str]) -> None:
        self._sequence += 1
        payload = self.root / f"..2026_11_27_06_50_{self._sequence:02d}.{self._sequence:09d}"
        payload.mkdir()
        for key, text in files.items():
            (payload / key).write_text(text, encoding="utf-8")
        data = self.root / "..data"
        old = data.resolve() if data.is_symlink() else None
        tmp = self.root / "..data_tmp"
        os.symlink(payload.name, tmp)
        os.replace(tmp, data)
        for key in files:
            link = self.root / key
            if not link.is_symlink():
                os.symlink(f"..data/{key}", link)
        for link in self.root.iterdir():
            if link.is_symlink() and not link.name.startswith("..") and link.name not in files:
                link.unlink()
        if old is not None:
            shutil.rmtree(old)

    def path(self, key: str) -> Path:
        return self.root / key
