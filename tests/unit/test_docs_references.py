"""Documentation points at documents that are in the repository.

The architecture document is docs/architecture.md. An old design document that lived outside the
repository was cited by its name in capitals plus a section sign, and a sibling folder of the
checkout was cited by a relative path; a new user has neither, so no tracked file may cite them.
Relative links in the README and docs/ must resolve to files that exist.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Built from parts so this file does not match itself.
FORBIDDEN = re.compile(r"\bDESIGN\b|\.\./" + "shared")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def tracked_files() -> list[Path]:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True
    ).stdout
    return [REPO / name for name in out.decode().split("\0") if name]


def test_no_tracked_file_cites_a_document_outside_the_repository() -> None:
    offenders = []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary (images), or deleted in the work tree
        for number, line in enumerate(text.splitlines(), 1):
            if FORBIDDEN.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "cite docs/architecture.md instead:\n" + "\n".join(offenders)


def test_relative_links_in_the_readme_and_docs_resolve() -> None:
    documents = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    broken = []
    for document in documents:
        for target in MARKDOWN_LINK.findall(document.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            if not (document.parent / target).exists():
                broken.append(f"{document.relative_to(REPO)}: {target}")
    assert not broken, "links to missing files:\n" + "\n".join(broken)
