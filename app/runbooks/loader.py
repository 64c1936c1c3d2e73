"""Load a tree of markdown runbooks and split each into section chunks.

A runbook's id is its path under the runbooks directory without `.md` (`node-notready`,
`kubernetes/KubePodCrashLooping`): stable across restarts and unique across folders, because two
files cannot share a path. Its title is the front matter's `title`, else the first `# ` heading.
Chunks are cut at `##`/`###` headings so retrieval can cite the part of a runbook that answers.

Alert names a runbook answers: the front matter's `alerts` (or `alert`), plus the file name or
the `# ` heading when either is an alert-style identifier (`KubePodCrashLooping`): public runbook
corpora name one file per alert.

Hidden entries (a mounted ConfigMap's `..data` and timestamped dirs) are skipped; their files
are reached through the visible symlinks. A bad file (not UTF-8, too large, no headings, broken
front matter, unreadable) is skipped with its reason: one bad runbook must not take the corpus
down, and the reasons are shown in /health/ready and counted in metrics.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from app.runbooks.frontmatter import FrontMatterError, split_front_matter
from app.runbooks.tree import markdown_entries

log = logging.getLogger("app.runbooks")

# `[ \t]+` after the hashes, not `\s+`: with `\s+(.*\S)` a line of "#" and whitespace alone
# backtracked in the square of its length (20,000 tabs: 1.4 s, the GIL held through it)
_HEADING = re.compile(r"^(#{1,3})[ \t]+(\S(?:.*\S)?)\s*$")
# CamelCase, as Prometheus alert names are (KubePodCrashLooping): a capital after the first
# letter and a lower-case letter somewhere. An all-caps name (README, SUMMARY, CHANGELOG in a
# git-synced runbook repo) is not an alert: taken for one, any question saying "readme" went
# to that file, past the no-answer gate.
_ALERT_NAME = re.compile(r"^(?=[A-Za-z0-9]*[a-z])[A-Za-z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*$")
MAX_RUNBOOK_BYTES = 256 * 1024
# Navigation, not content: a short list of other runbook ids would otherwise win BM25's
# length normalisation and be quoted as the answer.
NAVIGATION_SECTIONS = frozenset({"related", "see also", "references"})


class RunbookRejected(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


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
    alerts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str
    detail: str


@dataclass(frozen=True)
class Corpus:
    runbooks: list[Runbook]
    skipped: list[Skipped] = field(default_factory=list)


def parse_runbook(runbook_id: str, markdown: str) -> Runbook:
    """Raises RunbookRejected for broken front matter or a document with no heading."""
    try:
        front, body = split_front_matter(markdown)
    except FrontMatterError as exc:
        raise RunbookRejected("bad_front_matter", str(exc)) from None
    heading_title: str | None = None
    sections: list[tuple[str, list[str]]] = [("", [])]
    fence: str | None = None  # the open code fence: ``` or ~~~ (closed by the same)
    for line in body.splitlines():
        opens = line.lstrip()[:3]
        if fence is None and opens in ("```", "~~~"):
            fence = opens
        elif fence is not None and opens == fence:
            fence = None
        # a shell comment in a code block ("# drain the node first") is not a heading
        m = None if fence is not None else _HEADING.match(line)
        if m and len(m.group(1)) == 1:
            heading_title = heading_title or m.group(2)
            continue
        if m:
            sections.append((m.group(2), []))
            continue
        sections[-1][1].append(line)
    if heading_title is None and len(sections) == 1:
        raise RunbookRejected("no_headings", "no markdown heading: not a runbook")
    title = front.title or heading_title or runbook_id.rsplit("/", 1)[-1].replace("-", " ")
    chunks = tuple(
        Chunk(runbook_id, title, heading, "\n".join(lines).strip())
        for heading, lines in sections
        if "\n".join(lines).strip() and heading.strip().lower() not in NAVIGATION_SECTIONS
    )
    if not chunks:
        raise RunbookRejected("no_headings", "headings but no text under them")
    alerts = list(front.alerts)
    for candidate in (runbook_id.rsplit("/", 1)[-1], heading_title or ""):
        if _ALERT_NAME.match(candidate) and candidate not in alerts:
            alerts.append(candidate)
    return Runbook(runbook_id, title, chunks, _content_digest(title, markdown.encode()),
                   tuple(alerts))


def runbook_files(directory: Path) -> list[tuple[str, Path]]:
    """(id, path) of every runbook under the directory, sorted by id (`tree.py` says which)."""
    return [(runbook_id, Path(entry.path)) for runbook_id, entry in markdown_entries(directory)]


def load_corpus(directory: Path, max_bytes: int = MAX_RUNBOOK_BYTES,
                previous: Mapping[str, Runbook] | None = None) -> Corpus:
    """Every runbook under the directory (recursively). A missing directory is an OSError.
    A file whose bytes hash as its runbook in `previous` (same id) is not parsed again."""
    if not directory.is_dir():
        raise FileNotFoundError(f"runbooks directory {directory} does not exist")
    books: list[Runbook] = []
    skipped: list[Skipped] = []
    for runbook_id, path in runbook_files(directory):
        try:
            data = _read_bytes(path, max_bytes)
            known = previous.get(runbook_id) if previous is not None else None
            if known is not None and known.digest == _content_digest(known.title, data):
                books.append(known)
                continue
            books.append(parse_runbook(runbook_id, _decode(data)))
        except RunbookRejected as exc:
            skipped.append(Skipped(runbook_id, exc.reason, str(exc)))
            log.warning("runbook skipped", extra={"fields": {
                "file": runbook_id, "reason": exc.reason, "detail": str(exc)}})
    return Corpus(books, skipped)


def load_runbooks(directory: Path, max_bytes: int = MAX_RUNBOOK_BYTES) -> list[Runbook]:
    return load_corpus(directory, max_bytes).runbooks


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _content_digest(title: str, data: bytes) -> str:
    """What a runbook's search terms and embeddings are made of, and so their key (here, in the
    embedding cache): its bytes, and its title, which comes from the file name when the text
    has none. Keyed on the bytes alone, two identical files, or a renamed one, were searched
    under each other's (or the old) name."""
    return _digest(title.encode() + b"\0" + data)


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise RunbookRejected("too_large", f"{size} bytes, over the limit of {max_bytes}")
        return path.read_bytes()
    except OSError as exc:
        raise RunbookRejected("unreadable", exc.strerror or str(exc)) from None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunbookRejected("not_utf8", f"not UTF-8 at byte {exc.start}") from None
