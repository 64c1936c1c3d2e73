"""The offline provider: answers with the best runbook excerpts, no LLM, $0.

It is the embedded default when no ANTHROPIC_API_KEY is set, and the last rung of the
degradation ladder when the LLM is down or the budget is spent.

Steps first. Whoever reads the offline rung has a problem now (an alert, a question typed
mid-incident, the LLM down): the top runbook's Diagnosis and Mitigation sections (the commands
to run) lead, in the runbook's order, then the other retrieved sections (Meaning, Impact...)
as context. Retrieval ranks sections by how well they match the words of the question, and a
runbook's Meaning section repeats the symptom's words, so it wins: shown as ranked, "pod
OOMKilled, what now?" opened with what OOMKilled means. A question that asks what something
means ("what does OOMKilled mean?", "explain ...") keeps the ranked order. The action sections
come from the index when the search did not return them (`index`), else from the hits alone.

`select_excerpts` chooses the excerpts (exactly the text shown); `render` and `offline_answer`
render them. Each excerpt is its own citation (app/services/free_rungs.py): the text shown is
verbatim from the runbook section it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from app.llm.prompt import NO_ANSWER
from app.runbooks.loader import Chunk, Runbook
from app.runbooks.results import SearchResult

OFFLINE_MODEL = "offline"
EXCERPT_CHARS = 900
MAX_EXCERPTS = 3

# Section headings that hold steps: ours and the public corpora's (prometheus-operator/runbooks
# uses Diagnosis + Mitigation), plus the usual synonyms.
_ACTION_SECTION = re.compile(
    r"^(diagnos\w*|mitigat\w*|remediat\w*|resolution|resolv\w*|troubleshoot\w*|fix\w*|"
    r"how to (fix|resolve|mitigate)\b.*|steps?\b.*|investigat\w*|recover\w*|workaround\w*|"
    r"what to do\b.*)$",
    re.IGNORECASE,
)
_EXPLAIN_QUESTION = re.compile(r"\b(mean|means|meaning|explain|definition|define)\b",
                               re.IGNORECASE)


class RunbookLookup(Protocol):
    """What the selection needs of the index: every runbook by id (RunbookIndex has it)."""

    @property
    def runbooks(self) -> dict[str, Runbook]: ...


@dataclass(frozen=True)
class Excerpt:
    """One excerpt of an offline answer: where it is from and exactly the text shown."""

    runbook_id: str
    title: str
    section: str
    text: str

    @property
    def is_steps(self) -> bool:
        return is_action_section(self.section)


def is_action_section(section: str) -> bool:
    return bool(_ACTION_SECTION.match(section.strip()))


def wants_explanation(question: str) -> bool:
    return bool(_EXPLAIN_QUESTION.search(question))


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    if cut < limit // 2:
        cut = text.rfind(" ", 0, limit)
    return text[: max(cut, 1)].rstrip() + "\n…"


def _ordered_chunks(result: SearchResult, question: str | None,
                    index: RunbookLookup | None) -> list[Chunk]:
    ranked = [hit.chunk for hit in result.hits]
    if not ranked or (question is not None and wants_explanation(question)):
        return ranked
    top = ranked[0].runbook_id
    runbook = index.runbooks.get(top) if index is not None else None
    pool = list(runbook.chunks) if runbook is not None else ranked
    # From the runbook: its order (Diagnosis before Mitigation); from the hits alone: ranked.
    steps = [c for c in pool if c.runbook_id == top and is_action_section(c.section)]
    return steps + [c for c in ranked if c not in steps]


def select_excerpts(result: SearchResult, *, question: str | None = None,
                    index: RunbookLookup | None = None,
                    max_excerpts: int = MAX_EXCERPTS) -> list[Excerpt]:
    """The excerpts an offline answer shows, in order: the top runbook's steps, then the rest
    as retrieved (see the module docstring). Empty when nothing was retrieved."""
    return [Excerpt(c.runbook_id, c.title, c.section, _excerpt(c.text))
            for c in _ordered_chunks(result, question, index)[:max_excerpts]]


def render(excerpts: list[Excerpt]) -> str:
    if not excerpts:
        return NO_ANSWER
    lines = ["From the runbooks (excerpts, no LLM was used):", ""]
    for e in excerpts:
        heading = f"{e.title} — {e.section}" if e.section else e.title
        lines += [f"## {heading} [runbook: {e.runbook_id}]", "", e.text, ""]
    return "\n".join(lines).rstrip() + "\n"


def offline_answer(result: SearchResult, max_excerpts: int = MAX_EXCERPTS, *,
                   question: str | None = None, index: RunbookLookup | None = None) -> str:
    return render(select_excerpts(result, question=question, index=index,
                                  max_excerpts=max_excerpts))
