"""The fake's streamed replies: a Message sent as the Messages API's server-sent events.

message_start (usage with the input side and output_tokens 1), a ping (as the API sends), then
per content block
content_block_start, its deltas (text_delta a few words at a time, a citations_delta per
citation, input_json_delta for a tool call), content_block_stop; then message_delta with the
stop_reason and the CUMULATIVE usage (final output_tokens and the input side again, as the API
sends it: a client that adds instead of overwriting double counts), then message_stop.

Faults mid-stream (anthropic_faults.py): `drop_after_deltas=N` closes the connection abruptly
after N text deltas, `hang_after_deltas=N` sends N text deltas and then nothing more, until the
client gives up, `error_after_deltas=N` sends N text deltas and then an `error` event (the API's
error JSON, `overloaded_error` by default: how the API reports overload once the 200 has gone
out) and ends the stream, `end_after_deltas=N` ends the body cleanly after N text deltas (no
message_delta, no message_stop: what a proxy closing the connection gracefully leaves).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from tests.fakes.anthropic_wire import abort

_WORDS = re.compile(r"\S+\s*|\s+")
WORDS_PER_DELTA = 3


def chunks(text: str) -> list[str]:
    """The text in deltas of a few words (never an empty one)."""
    words = _WORDS.findall(text)
    return ["".join(words[i:i + WORDS_PER_DELTA]) for i in range(0, len(words), WORDS_PER_DELTA)]


def events(message: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(event name, data, is a text delta) for the whole message."""
    usage = message["usage"]
    start_usage = {**usage, "output_tokens": 1}
    yield "message_start", {"type": "message_start", "message": {
        **message, "content": [], "stop_reason": None, "usage": start_usage}}, False
    yield "ping", {"type": "ping"}, False
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield "content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {"type": "text", "text": ""}}, False
            for citation in block.get("citations") or ():
                yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "citations_delta",
                                                        "citation": citation}}, False
            for piece in chunks(block["text"]):
                yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "text_delta",
                                                        "text": piece}}, True
        else:  # tool_use
            yield "content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {**block, "input": {}}}, False
            yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                          "delta": {"type": "input_json_delta",
                                                    "partial_json": json.dumps(block["input"])}
                                          }, False
        yield "content_block_stop", {"type": "content_block_stop", "index": index}, False
    yield "message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": message["stop_reason"],
                                      "stop_sequence": None},
                            "usage": usage}, False
    yield "message_stop", {"type": "message_stop"}, False


async def send(request: web.Request, message: dict[str, Any], headers: dict[str, str], *,
               drop_after: int | None, hang_after: int | None,
               error_after: int | None, error_type: str, end_after: int | None,
               closing: asyncio.Event) -> web.StreamResponse:
    response = web.StreamResponse(headers={**headers, "content-type": "text/event-stream",
                                           "cache-control": "no-cache"})
    await response.prepare(request)
    deltas = 0
    for name, data, is_text in events(message):
        if is_text and deltas == drop_after:
            abort(request)  # mid-stream: no message_delta, no message_stop
            return response
        if is_text and deltas == hang_after:
            await closing.wait()  # cancelled when the client gives up
            return response
        if is_text and deltas == end_after:
            await response.write_eof()  # a clean end, the message unfinished
            return response
        if is_text and deltas == error_after:
            error = {"type": "error",
                     "error": {"type": error_type, "message": f"fake {error_type}"}}
            await response.write(f"event: error\ndata: {json.dumps(error)}\n\n".encode())
            await response.write_eof()
            return response
        await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        deltas += is_text
    await response.write_eof()
    return response
