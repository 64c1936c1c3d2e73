"""The offline provider: answers with the best runbook excerpts, no LLM, $0.

It is the embedded default when no ANTHROPIC_API_KEY is set, and the last rung of the
degradation ladder when the LLM is down or the budget is spent. Each excerpt cites itself:
`offline_excerpts` is what is shown, verbatim from the runbook, and `offline_answer` renders it.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.llm.prompt import NO_ANSWER
from app.runbooks.results import SearchResult

OFFLINE_MODEL = "offline"
EXCERPT_CHARS = 900
MAX_EXCERPTS = 3


@dataclass(frozen=True)
class Excerpt:
    runbook_id: str
    title: str
    section: str
    text: str  # a prefix of the section's text, as shown
    cut: bool  # the section goes on past `text`


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    cut = text.rfind("\n", 0, limit)
    if cut < limit // 2:
        cut = text.rfind(" ", 0, limit)
    return text[: max(cut, 1)].rstrip(), True


def offline_excerpts(result: SearchResult, max_excerpts: int = MAX_EXCERPTS) -> list[Excerpt]:
    excerpts = []
    for hit in result.hits[:max_excerpts]:
        c = hit.chunk
        text, cut = _excerpt(c.text)
        excerpts.append(Excerpt(c.runbook_id, c.title, c.section, text, cut))
    return excerpts


def offline_answer(result: SearchResult, max_excerpts: int = MAX_EXCERPTS) -> str:
    excerpts = offline_excerpts(result, max_excerpts)
    if not excerpts:
        return NO_ANSWER
    lines = ["From the runbooks (excerpts, no LLM was used):", ""]
    for e in excerpts:
        heading = f"{e.title} — {e.section}" if e.section else e.title
        lines += [f"## {heading} [runbook: {e.runbook_id}]", "",
                  e.text + ("\n…" if e.cut else ""), ""]
    return "\n".join(lines).rstrip() + "\n"
