"""The grounded share and the citation checks, on hand-made search results."""

from __future__ import annotations

from app.llm.base import Cited, TextPart
from app.runbooks.loader import Chunk
from app.runbooks.results import Hit, SearchResult
from app.services.grounding import ground

OOM = Chunk("pod-oomkilled", "Pod OOMKilled", "Mitigation",
            "Raise the memory limit. Check the working set first.")
DISK = Chunk("node-disk-pressure", "Node disk pressure", "Diagnosis",
             "Look at image garbage collection.")
RESULT = SearchResult(hits=(Hit(OOM, 1.0), Hit(DISK, 0.5)))


def test_the_share_is_the_cited_text_over_all_text_whitespace_ignored() -> None:
    parts = (TextPart("Do this:   "),  # 7 characters without whitespace, uncited
             TextPart("raise the limit", (Cited(0, "Raise the memory limit."),)))  # 13
    g = ground(parts, RESULT)
    assert g.share == 13 / 20
    assert [(c.runbook_id, c.section, c.quote) for c in g.citations] == [
        ("pod-oomkilled", "Mitigation", "Raise the memory limit.")]
    assert not g.rejected


def test_a_citation_outside_the_documents_or_misquoting_backs_nothing() -> None:
    parts = (TextPart("first", (Cited(2, "Raise the memory limit."),)),
             TextPart("second", (Cited(-1, "Raise"),)),
             TextPart("third", (Cited(1, "Raise the memory limit."),)),  # not in DISK
             TextPart("fourth", (Cited(0, "   "),)))
    g = ground(parts, RESULT)
    assert g.share == 0.0 and g.citations == ()
    assert g.rejected == {"outside_documents": 2, "text_mismatch": 2}


def test_one_valid_citation_is_enough_for_its_part() -> None:
    parts = (TextPart("all of it", (Cited(5, "x"), Cited(1, "image garbage collection"))),)
    g = ground(parts, RESULT)
    assert g.share == 1.0 and len(g.citations) == 1 and g.rejected == {"outside_documents": 1}


def test_no_text_is_not_grounded() -> None:
    assert ground((), RESULT).share == 0.0
    assert ground((TextPart("  \n"),), RESULT).share == 0.0
