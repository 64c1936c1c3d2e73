"""`Accept: text/plain` on POST /ask: the answer as a terminal shows it, then a compact footer.

Negotiation: JSON stays the default. text/plain is served only when the client ranks it above
JSON (`Accept: text/plain`, or `text/plain, application/json;q=0.5`); a tie, `*/*`, no Accept
header or `application/json` gets JSON, so existing clients never change format. Errors stay
JSON problem bodies (`{"error", "detail", "request_id"}`, one line) whatever the Accept header:
a script checks one error format, and the request id is in the body and in `X-Request-ID`.
"""

from __future__ import annotations

from app.api.accept import JSON_TYPES, TEXT_TYPES, quality
from app.schemas import AskResponse

TEXT_PLAIN = "text/plain; charset=utf-8"


def prefers_text(accept: str | None) -> bool:
    if not accept:
        return False
    text = quality(accept, TEXT_TYPES)
    json = quality(accept, JSON_TYPES)
    return text > json


def render_answer(response: AskResponse) -> str:
    """The answer, a blank line, then `sources:` and one line of facts (model, cache, cost,
    request id), plus `degraded:` when the ladder served it."""
    lines = [response.answer.rstrip(), "", "--"]
    lines.append("sources: " + (", ".join(response.sources) or "none"))
    facts = [f"model: {response.model}", f"cached: {'yes' if response.cached else 'no'}",
             f"cost_usd: {response.cost_usd:.6f}" + (" (estimated)" if response.cost_estimated
                                                      else "")]
    if response.truncated:
        facts.append("truncated: yes")
    if response.grounded is False:  # an answer the runbooks do not back: say so on screen
        facts.append(f"grounded: NO ({response.grounded_share or 0:.0%} cited)")
    lines.append(" · ".join([*facts, f"request_id: {response.request_id}"]))
    if response.degraded is not None:
        d = response.degraded
        lines.append(f"degraded: {d.mode} ({d.reason}: {d.detail})")
    return "\n".join(lines) + "\n"
