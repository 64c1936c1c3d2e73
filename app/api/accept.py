"""How much a client's Accept header wants a media type (RFC 9110 quality values), for the
formats POST /ask can answer in: JSON (the default), plain text, server-sent events."""

from __future__ import annotations

JSON_TYPES = ("application/json", "application/*", "*/*")
TEXT_TYPES = ("text/plain", "text/*")


def quality(accept: str, candidates: tuple[str, ...]) -> float:
    """The highest q the Accept header gives any of `candidates` (0 when none matches)."""
    best = 0.0
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        if media.strip().lower() not in candidates:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best
