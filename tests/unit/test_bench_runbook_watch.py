"""bench/runbook_watch.py runs end to end on a small corpus and keeps the hand-written notes
of the file it rewrites."""

from __future__ import annotations

from pathlib import Path

from bench import runbook_watch
from bench.results_file import NOTES_MARKER


async def test_a_small_corpus_is_measured(tmp_path: Path) -> None:
    row = await runbook_watch.measure(44, tmp_path, seconds=0.2)
    assert row["runbooks"] == 44
    assert row["poll_cpu_ms"] > 0 and row["longest_ms"] >= row["p99_ms"]


def test_the_notes_below_the_marker_are_kept(tmp_path: Path) -> None:
    out = tmp_path / "runbook-watch.md"
    out.write_text(f"old table\n{NOTES_MARKER}\n\n## Notes\n\nkept\n")
    row = {"runbooks": 44.0, "poll_cpu_ms": 0.4, "longest_ms": 2.0, "p99_ms": 1.0}
    text = runbook_watch.write([row], out, 3.0)
    assert "old table" not in text
    assert "| 44 | 0.40 | 0.04 % | 1.00 | 2.0 |" in text
    assert text.endswith("## Notes\n\nkept\n") and out.read_text() == text
