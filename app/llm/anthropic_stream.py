"""Reading one streamed Messages API call (`messages.stream`) with the official SDK.

Each text delta goes to `on_delta` as it arrives; the Message is the SDK's accumulation of the
events, so usage is what Anthropic bills: message_start carries the input side, message_delta
the CUMULATIVE totals, which the SDK overwrites (never adds), so nothing is counted twice.
A transport failure after the response started (a dropped connection, a read timeout) is not an
`anthropic.APIError` (the SDK lets the transport's exception through while iterating): it leaves
as `StreamBrokenError`, which the provider maps to a maybe-billed UpstreamError (the request
reached the API, which bills the tokens it generated). So does a body that ends cleanly before
the message_delta that carries the stop reason and the final usage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import anthropic
from anthropic.types import Message

from app.llm.anthropic_message import request_params
from app.llm.base import CompletionRequest

DeltaSink = Callable[[str], None]


class StreamBrokenError(Exception):
    """The stream started and then failed in the transport: `timed_out` for a read timeout."""

    def __init__(self, detail: str, *, timed_out: bool) -> None:
        super().__init__(detail)
        self.timed_out = timed_out


async def read_stream(client: anthropic.AsyncAnthropic, request: CompletionRequest,
                      on_delta: DeltaSink) -> tuple[Message, Mapping[str, str]]:
    """The final Message and the response headers; text deltas to `on_delta` on the way."""
    async with client.messages.stream(
        model=request.model, max_tokens=request.max_tokens, timeout=request.timeout_seconds,
        **request_params(request),
    ) as stream:
        try:
            async for event in stream:
                if event.type == "text" and event.text:
                    on_delta(event.text)
            message = await stream.get_final_message()
        except anthropic.APIError:
            raise
        except Exception as exc:  # the transport's own exception, mid-stream
            name = type(exc).__name__
            raise StreamBrokenError(f"the stream broke: {name}",
                                    timed_out="Timeout" in name) from exc
        if message.stop_reason is None:
            # The body ended cleanly before message_delta (a proxy or the API closing early):
            # the SDK hands back what it had, a partial text with message_start's usage (1
            # output token). Neither an answer nor what was billed.
            raise StreamBrokenError("the stream ended before the message did", timed_out=False)
        return message, stream.response.headers
