"""The prompt template. Its version is part of every cache key: edit the text, bump the version."""

from __future__ import annotations

from app.runbooks.results import SearchResult

PROMPT_VERSION = "2026-11-27.1"
NO_ANSWER = "I don't have information about that in the runbooks."

_INSTRUCTIONS = f"""You are an SRE assistant. Answer the operator's question using ONLY the
runbook excerpts below. Be concrete: list the commands to run and what to look for, safest
mitigation first. Cite the runbooks you used as [runbook: <id>]. If the excerpts do not answer
the question, reply exactly: "{NO_ANSWER}"
"""


def build_system_prompt(result: SearchResult) -> str:
    parts = [_INSTRUCTIONS, "<runbooks>"]
    for hit in result.hits:
        c = hit.chunk
        parts.append(f'<runbook id="{c.runbook_id}" title="{c.title}" section="{c.section}">')
        parts.append(c.text)
        parts.append("</runbook>")
    parts.append("</runbooks>")
    return "\n".join(parts)


def is_no_answer(text: str) -> bool:
    return NO_ANSWER.lower().rstrip(".") in text.lower()
