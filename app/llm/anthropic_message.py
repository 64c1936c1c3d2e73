"""The Messages API request and response, as the citations feature shapes them.

Request: the instructions as the system prompt; the runbook sections as plain-text documents
with citations enabled, the last one a prompt-cache breakpoint (tools, system and documents are
the cached prefix, so repeated questions over the same sections bill at the cache-read price);
then the question. The `no_answer` tool is offered (tool_choice auto) as the structured way to
decline. Without documents, the request is the plain one: a cacheable system prompt and the
prompt as text.

Response: every text block becomes a TextPart with its `char_location` citations; a
`no_answer` tool call is the decline signal, whatever text came with it. The response is read as
the API's JSON (`MessageJSON`), not through the SDK's Message model: building that model from
the JSON (its content and citation unions resolved in Python) was a quarter of the SDK's CPU
per call, ~0.5 ms, for the few fields read here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anthropic
from anthropic.types import (
    DocumentBlockParam,
    MessageParam,
    TextBlockParam,
    ToolParam,
)

from app.llm.base import Cited, CompletionRequest, TextPart, Usage
from app.llm.prompt import NO_ANSWER_TOOL, NO_ANSWER_TOOL_DESCRIPTION

# The Messages API response body, decoded from JSON (the SDK's Message model, as plain data).
MessageJSON = Mapping[str, Any]

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


def text_parts(message: MessageJSON) -> tuple[TextPart, ...]:
    """Each text block and its citations to plain-text documents (other kinds are not ours)."""
    parts = []
    for block in message["content"]:
        if block.get("type") != "text":
            continue
        cited = tuple(
            Cited(document_index=int(c["document_index"]), cited_text=str(c["cited_text"]))
            for c in block.get("citations") or ()
            if c.get("type") == "char_location"
        )
        parts.append(TextPart(str(block["text"]), cited))
    return tuple(parts)


def declined(message: MessageJSON) -> str | None:
    """The reason given with a `no_answer` tool call, or None when the model answered."""
    for block in message["content"]:
        if block.get("type") == "tool_use" and block.get("name") == NO_ANSWER_TOOL:
            given = block.get("input")
            reason = given.get("reason") if isinstance(given, dict) else None
            return str(reason or "the runbooks do not cover it")
    return None


def message_json(body: bytes | MessageJSON, headers: Mapping[str, str]) -> MessageJSON:
    """The decoded Message; TypeError when the 200 is something else (HTML, truncated JSON)."""
    if not isinstance(body, bytes):
        return body
    try:
        message = json.loads(body)
    except ValueError:
        message = None
    if not isinstance(message, dict) or message.get("type") != "message":
        raise TypeError(f"content-type {headers.get('content-type')!r}")
    return message


def usage_from(message: MessageJSON) -> Usage:
    """Anthropic's usage, exactly: `input_tokens` already excludes cache reads and writes.
    A count that is not a whole number >= 0 raises ValueError: the response is unusable, and
    the call is settled at its reserved worst case (a negative count would have credited the
    budget, and the token counter's refusal of it lost the spend)."""
    u = message["usage"]
    split = u.get("cache_creation")
    if split is not None:
        write_5m = _tokens(split.get("ephemeral_5m_input_tokens"))
        write_1h = _tokens(split.get("ephemeral_1h_input_tokens"))
    else:
        # Older API responses have no TTL split; the default cache TTL is 5 minutes.
        write_5m, write_1h = _tokens(u.get("cache_creation_input_tokens")), 0
    return Usage(
        input_tokens=_tokens(u["input_tokens"], required=True),
        output_tokens=_tokens(u["output_tokens"], required=True),
        cache_read_tokens=_tokens(u.get("cache_read_input_tokens")),
        cache_write_5m_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
    )


def _tokens(value: Any, *, required: bool = False) -> int:
    """A count: a whole number >= 0. An optional one (the cache fields) may be absent or null;
    a required one (input, output) may not: read as 0, the call would be charged nothing."""
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"token count in usage is not a whole number: {value!r}")
    if value < 0:
        raise ValueError(f"negative token count in usage: {value}")
    return value
