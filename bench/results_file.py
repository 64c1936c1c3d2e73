"""A bench's results file: each run rewrites what it measured; the hand-written notes below
NOTES_MARKER (what a profile found, before/after tables) are kept."""

from __future__ import annotations

from pathlib import Path

NOTES_MARKER = "<!-- notes: kept when the bench rewrites this file -->"


def write_keeping_notes(out: Path, measured: str) -> str:
    """Write `measured`, then the marker and the notes `out` already had; return the text."""
    old = out.read_text() if out.exists() else ""
    notes = old.split(NOTES_MARKER, 1)[1] if NOTES_MARKER in old else "\n"
    text = f"{measured}\n{NOTES_MARKER}{notes}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text
