"""The fake's deterministic "model": token counts, the cacheable prefix and the cited answer."""

from __future__ import annotations

import json
import math
import re
from typing import Any

CHARS_PER_TOKEN = 4
DEFAULT_NO_ANSWER = "I don't have information about that in the runbooks."
_RUNBOOK_IDS = re.compile(
    r"""<runbook\s+id=["']([A-Za-z0-9][\w.-]*)["']|\[runbook:\s*([A-Za-z0-9][\w.-]*)\]"""
)
_REPLY_EXACTLY = re.compile(r'reply exactly:\s*"([^"]+)"', re.IGNORECASE)


def tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _block_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    if isinstance(block, dict) and block.get("type") == "text":
        return str(block.get("text", ""))
    return ""


def _billed_text(block: Any) -> str:
    """What a block adds to the input: a document's title, context and text too."""
    if isinstance(block, dict) and block.get("type") == "document":
        source = block.get("source") or {}
        return "".join(str(block.get(k) or "") for k in ("title", "context")) + str(
            source.get("data", ""))
    return _block_text(block)


def _content_blocks(body: dict[str, Any]) -> list[Any]:
    """Every block the model reads, in the API's cache order: system, then the messages."""
    system = body.get("system")
    blocks: list[Any] = list(system) if isinstance(system, list) else [system or ""]
    for m in body.get("messages", []):
        content = m.get("content") if isinstance(m, dict) else None
        blocks.extend(content if isinstance(content, list) else [content or ""])
    return blocks


def tools_text(body: dict[str, Any]) -> str:
    return json.dumps(body.get("tools") or "") if body.get("tools") else ""


def system_text(system: Any) -> str:
    """The system prompt as text: a string or a list of text blocks."""
    if isinstance(system, list):
        return "".join(_block_text(b) for b in system)
    return _block_text(system)


def cacheable_prefix(body: dict[str, Any]) -> tuple[str, str]:
    """(tools, system and message text up to and including the last block with
    cache_control, its ttl) or ("", "")."""
    prefix, ttl, seen = "", "", tools_text(body)
    for block in _content_blocks(body):
        seen += _billed_text(block)
        control = block.get("cache_control") if isinstance(block, dict) else None
        if isinstance(control, dict) and control.get("type") == "ephemeral":
            prefix, ttl = seen, str(control.get("ttl", "5m"))
    return prefix, ttl


def messages_text(messages: list[Any]) -> str:
    parts: list[str] = []
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):
            parts.extend(_block_text(b) for b in content)
        elif content is not None:
            parts.append(_block_text(content))
    return "".join(parts)


def runbook_ids(system: str) -> list[str]:
    ids: list[str] = []
    for match in _RUNBOOK_IDS.finditer(system):
        rid = match.group(1) or match.group(2)
        if rid not in ids:
            ids.append(rid)
    return ids


def cited_answer(system: str, body: dict[str, Any]) -> str:
    """An answer that cites every runbook the system prompt carried, or the no-answer reply."""
    ids = runbook_ids(system)
    if not ids:
        instructed = _REPLY_EXACTLY.search(system)
        return instructed.group(1) if instructed else DEFAULT_NO_ANSWER
    question = " ".join(messages_text(body["messages"]).split())[:120]
    cites = " ".join(f"[runbook: {rid}]" for rid in ids)
    return (
        f'For "{question}": follow the steps in the runbooks below, safest mitigation first, '
        f"and confirm the symptom before changing anything. Sources: {cites}"
    )


def clip(answer: str, max_tokens: int) -> tuple[str, int, str]:
    """(text, output_tokens, stop_reason): never more than max_tokens, as the real API."""
    if tokens(answer) <= max_tokens:
        return answer, tokens(answer), "end_turn"
    return answer[: max_tokens * CHARS_PER_TOKEN], max_tokens, "max_tokens"


class PromptCache:
    """Anthropic prompt caching, simulated: the first call with a cacheable system prefix writes
    it (5 m or 1 h TTL, as its cache_control asks), identical later calls for the same model read
    it. TTL expiry is not simulated; `POST /_fake/reset` forgets everything."""

    def __init__(self, min_cacheable_tokens: int = 0) -> None:
        # Real models refuse to cache prefixes under ~1024 tokens; 0 caches everything.
        self.min_cacheable_tokens = min_cacheable_tokens
        self._seen: set[tuple[str, str]] = set()

    def usage(self, model: str, body: dict[str, Any], output_tokens: int) -> dict[str, Any]:
        """The Message `usage` object for this request: input_tokens excludes cached tokens."""
        input_tokens = tokens(tools_text(body)) + sum(
            tokens(_billed_text(b)) for b in _content_blocks(body))
        prefix, ttl = cacheable_prefix(body)
        read = write_5m = write_1h = 0
        prefix_tokens = tokens(prefix)
        if prefix and prefix_tokens >= self.min_cacheable_tokens:
            input_tokens -= prefix_tokens
            if (model, prefix) in self._seen:
                read = prefix_tokens
            elif ttl == "1h":
                write_1h = prefix_tokens
            else:
                write_5m = prefix_tokens
            self._seen.add((model, prefix))
        return {
            "input_tokens": max(input_tokens, 0),
            "output_tokens": output_tokens,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write_5m + write_1h,
            "cache_creation": {
                "ephemeral_5m_input_tokens": write_5m,
                "ephemeral_1h_input_tokens": write_1h,
            },
            "service_tier": "standard",
        }
