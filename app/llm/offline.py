"""The offline provider: answers with the best runbook excerpts, no LLM, $0.

It is the embedded default when no ANTHROPIC_API_KEY is set, and the last rung of the
degradation ladder when the LLM is down or the budget is spent.
"""

from __future__ import annotations

from app.llm.prompt import NO_ANSWER
from app.runbooks.results import SearchResult

OFFLINE_MODEL = "offline"
EXCERPT_CHARS = 900


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    if cut < limit // 2:
        cut = text.rfind(" ", 0, limit)
    return text[: max(cut, 1)].rstrip() + "\n…"


def offline_answer(result: SearchResult, max_excerpts: int = 3) -> str:
    if not result.hits:
        return NO_ANSWER
    lines = ["From the runbooks (excerpts, no LLM was used):", ""]
    for hit in result.hits[:max_excerpts]:
        c = hit.chunk
        heading = f"{c.title} — {c.section}" if c.section else c.title
        lines += [f"## {heading} [runbook: {c.runbook_id}]", "", _excerpt(c.text), ""]
    return "\n".join(lines).rstrip() + "\n"
