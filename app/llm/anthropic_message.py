"""The Messages API request and response, as the citations feature shapes them.

Request: the instructions as the system prompt; the runbook sections as plain-text documents
with citations enabled, the last one a prompt-cache breakpoint (tools, system and documents are
the cached prefix, so repeated questions over the same sections bill at the cache-read price);
then the question. The `no_answer` tool is offered (tool_choice auto) as the structured way to
decline. Without documents, the request is the plain one: a cacheable system prompt and the
prompt as text.

Response: every text block becomes a TextPart with its `char_location` citations; a
`no_answer` tool call is the decline signal, whatever text came with it.
"""

from __future__ import annotations

from typing import Any

import anthropic
from anthropic.types import (
    DocumentBlockParam,
    Message,
    MessageParam,
    TextBlockParam,
    ToolParam,
)

from app.llm.base import Cited, CompletionRequest, TextPart
from app.llm.prompt import NO_ANSWER_TOOL, NO_ANSWER_TOOL_DESCRIPTION

NO_ANSWER_TOOL_PARAM: ToolParam = {
    "name": NO_ANSWER_TOOL,
    "description": NO_ANSWER_TOOL_DESCRIPTION,
    "input_schema": {
        "type": "object",
        "properties": {"reason": {"type": "string", "description": "Why, in one sentence."}},
        "required": ["reason"],
    },
}


def request_params(request: CompletionRequest) -> dict[str, Any]:
    """system, messages and (with documents) tools for `messages.create`."""
    if not request.documents:
        return {"system": _plain_system(request.system),
                "messages": [{"role": "user", "content": request.prompt}]}
    content: list[DocumentBlockParam | TextBlockParam] = []
    last = len(request.documents) - 1
    for i, doc in enumerate(request.documents):
        block: DocumentBlockParam = {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": doc.text},
            "title": doc.title,
            "citations": {"enabled": True},
        }
        if doc.context:
            block["context"] = doc.context
        if i == last:
            block["cache_control"] = {"type": "ephemeral"}
        content.append(block)
    content.append({"type": "text", "text": request.prompt})
    message: MessageParam = {"role": "user", "content": content}
    params: dict[str, Any] = {"messages": [message], "tools": [NO_ANSWER_TOOL_PARAM],
                              "tool_choice": {"type": "auto"}}
    if request.system:
        params["system"] = [{"type": "text", "text": request.system}]
    return params


def _plain_system(system: str) -> list[TextBlockParam] | anthropic.Omit:
    if not system:
        return anthropic.omit  # the API refuses empty text blocks
    return [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]


def text_parts(message: Message) -> tuple[TextPart, ...]:
    """Each text block and its citations to plain-text documents (other kinds are not ours)."""
    parts = []
    for block in message.content:
        if block.type != "text":
            continue
        cited = tuple(
            Cited(document_index=c.document_index, cited_text=c.cited_text)
            for c in block.citations or ()
            if c.type == "char_location"
        )
        parts.append(TextPart(block.text, cited))
    return tuple(parts)


def declined(message: Message) -> str | None:
    """The reason given with a `no_answer` tool call, or None when the model answered."""
    for block in message.content:
        if block.type == "tool_use" and block.name == NO_ANSWER_TOOL:
            reason = block.input.get("reason") if isinstance(block.input, dict) else None
            return str(reason or "the runbooks do not cover it")
    return None
