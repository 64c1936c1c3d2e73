"""The fake's citations: answers built from the documents it received, cited as the API does.

Modes (`FakeAnthropic.set_citation_mode`, `POST /_fake/citations {"mode": ...}`):
    cite       a short uncited lead-in, then one block per document quoting its first sentence
               with a `char_location` citation (the default)
    uncited    the same text, no citations
    outside    citations whose document_index points past the documents sent
    mismatch   citations whose quoted text is not in the document
    decline    a reworded refusal and a `no_answer` tool call (when the tool was offered)
    refuse     the cited answer stopped after its first cited block, stop_reason "refusal"
               (the API's safety classifier ending a reply it had begun)
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.fakes.anthropic_text import messages_text, system_text

CITATION_MODES = ("cite", "uncited", "outside", "mismatch", "decline", "refuse")
_RUNBOOK_IN_CONTEXT = re.compile(r"runbook\s+([A-Za-z0-9][\w.-]*)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s|\n")
REWORDED_REFUSAL = "Nothing in these documents covers that, sorry."


def documents(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The plain-text document blocks of the request's messages, in order."""
    found: list[dict[str, Any]] = []
    for message in body.get("messages", []):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            found.extend(b for b in content if isinstance(b, dict) and b.get("type") == "document")
    return found


def offers_tool(body: dict[str, Any], name: str) -> bool:
    return any(isinstance(t, dict) and t.get("name") == name for t in body.get("tools") or [])


def _first_sentence(data: str) -> tuple[int, int]:
    """[start, end) of the document's first sentence with some words in it."""
    start = len(data) - len(data.lstrip())
    for match in _SENTENCE_END.finditer(data, start):
        if match.start() - start >= 20:
            return start, match.start()
    return start, len(data.rstrip())


def cited_blocks(docs: list[dict[str, Any]], question: str, mode: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": f'For "{question[:60]}": ', "citations": None}]
    for i, doc in enumerate(docs):
        data = str(doc.get("source", {}).get("data", ""))
        start, end = _first_sentence(data)
        quote = data[start:end]
        rid = _RUNBOOK_IN_CONTEXT.search(str(doc.get("context", "")))
        marker = f" [runbook: {rid.group(1)}]" if rid else ""
        citation = {"type": "char_location", "cited_text": quote,
                    "document_index": len(docs) + i if mode == "outside" else i,
                    "document_title": doc.get("title"), "start_char_index": start,
                    "end_char_index": end}
        if mode == "mismatch":
            citation["cited_text"] = "Delete the namespace and recreate every workload."
        blocks.append({"type": "text", "text": f"{quote}{marker}\n",
                       "citations": None if mode == "uncited" else [citation]})
    return blocks


def decline_blocks() -> list[dict[str, Any]]:
    return [{"type": "text", "text": REWORDED_REFUSAL, "citations": None},
            {"type": "tool_use", "id": f"toolu_fake_{uuid.uuid4().hex[:20]}", "name": "no_answer",
             "input": {"reason": "the documents are about other failures"}}]


def request_parts(body: dict[str, Any]) -> tuple[str, str, list[tuple[str, str, str]]]:
    """(system text, prompt text, [(title, context, text)] per document) of a request body:
    what the service sent, to recompute its reservation estimate."""
    docs = [(str(d.get("title") or ""), str(d.get("context") or ""),
             str((d.get("source") or {}).get("data", ""))) for d in documents(body)]
    return system_text(body.get("system")), messages_text(body["messages"]), docs
