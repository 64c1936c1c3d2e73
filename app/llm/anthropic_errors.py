"""How a failed Anthropic API call is classified (app/llm/anthropic.py raises the UpstreamError):
the bounded `kind` an HTTP status or an in-stream error type stands for, whether the request
can have been billed, and whether a 200's body is the API's own."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
import anthropic

# Transport errors that mean the request never left: no connection was established.
NOT_CONNECTED = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


def never_connected(exc: BaseException) -> bool:
    """Does the exception chain show the connection was never made (so nothing was sent)?"""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NOT_CONNECTED) or type(current).__name__ == "ConnectTimeout":
            return True
        current = current.__cause__ or current.__context__
    return False


# The error types the API sends in a stream, by the kind an HTTP status would have given.
IN_BAND_KINDS = {"overloaded_error": "overloaded", "rate_limit_error": "rate_limited",
                  "api_error": "server_error"}


def kind_for_status(status: int, exc: anthropic.APIStatusError) -> str:
    if status == 529 or isinstance(exc, anthropic.OverloadedError):
        return "overloaded"
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    if status in (401, 403):
        return "auth"
    return "bad_request"


def api_body(headers: Mapping[str, str]) -> bool:
    """Is a 200's body the API's own by its content type (JSON, or its event stream), not a
    page some proxy on the way wrote?"""
    kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind in ("application/json", "text/event-stream") or kind.endswith("+json")
