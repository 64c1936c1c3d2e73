"""Load a directory of markdown runbooks and split each into section chunks.

A runbook's id is its file name without `.md`; its title is the first `# ` heading. Chunks are
cut at `##`/`###` headings so retrieval can cite the part of a runbook that answers.
Hidden entries (a mounted ConfigMap's `..data` and timestamped dirs) are skipped; their files
are reached through the visible symlinks.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("app.runbooks")

_HEADING = re.compile(r"^(#{1,3})\s+(.*\S)\s*$")
MAX_RUNBOOK_BYTES = 256 * 1024
# Navigation, not content: a short list of other runbook ids would otherwise win BM25's
# length normalisation and be quoted as the answer.
NAVIGATION_SECTIONS = frozenset({"related", "see also", "references"})


@dataclass(frozen=True)
class Chunk:
    runbook_id: str
    title: str
    section: str
    text: str


@dataclass(frozen=True)
class Runbook:
    id: str
    title: str
    chunks: tuple[Chunk, ...]
    digest: str


def parse_runbook(runbook_id: str, markdown: str) -> Runbook:
    title = runbook_id.replace("-", " ")
    sections: list[tuple[str, list[str]]] = [("", [])]
    in_code = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        m = None if in_code else _HEADING.match(line)
        if m and len(m.group(1)) == 1:
            title = m.group(2)
            continue
        if m:
            sections.append((m.group(2), []))
            continue
        sections[-1][1].append(line)
    chunks = tuple(
        Chunk(runbook_id, title, heading, "\n".join(lines).strip())
        for heading, lines in sections
        if "\n".join(lines).strip() and heading.strip().lower() not in NAVIGATION_SECTIONS
    )
    digest = hashlib.sha256(markdown.encode()).hexdigest()[:16]
    return Runbook(runbook_id, title, chunks, digest)


def load_runbooks(directory: Path) -> list[Runbook]:
    """Every `*.md` in the directory (not recursive), sorted by id. Unreadable files are
    skipped with a warning: one bad runbook must not take the corpus down."""
    if not directory.is_dir():
        raise FileNotFoundError(f"runbooks directory {directory} does not exist")
    books = []
    for path in sorted(directory.glob("*.md")):
        if path.name.startswith("."):
            continue
        try:
            if path.stat().st_size > MAX_RUNBOOK_BYTES:
                log.warning("runbook too large, skipped", extra={"fields": {"file": path.name}})
                continue
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("runbook unreadable, skipped",
                        extra={"fields": {"file": path.name, "error": str(exc)}})
            continue
        books.append(parse_runbook(path.stem, text))
    return books
