"""POST /ask: JSON by default, the answer as plain text for `Accept: text/plain`
(app/api/plain_text.py says how the format is chosen), server-sent events for `"stream": true`
or `Accept: text/event-stream` (app/api/event_stream.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic_core import to_json

from app.api.errors import problem_body
from app.api.event_stream import AnswerEvents, EventStreamResponse, start, wants_events
from app.api.fast_lane import fast_lane
from app.api.plain_text import TEXT_PLAIN, prefers_text, render_answer
from app.api.rate_limit import OPENAPI_429, OPENAPI_HEADERS, RateLimitDep
from app.logs import add_log_fields, question_fields
from app.runtime import Runtime
from app.schemas import (
    AskRequest,
    AskResponse,
    ErrorResponse,
)
from app.services.answer import Answer

router = APIRouter()

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 413, 422, 429, 502, 503)
}
# OpenAPI 3.1 (before 3.2's itemSchema): an event stream's `schema` describes ONE event, as
# the SSE fields it carries; `data` is a line of JSON (app/api/event_stream.py says which).
_SSE_EVENT = {"type": "object", "required": ["event", "data"],
              "properties": {"event": {"enum": ["sources", "delta", "reset", "done", "error"]},
                             "data": {"type": "string"}}}
_ERRORS[200] = {"content": {"text/plain": {"schema": {"type": "string"}},
                            "text/event-stream": {"schema": _SSE_EVENT}},
                "description": "The answer: JSON, plain text for `Accept: text/plain`, or "
                "server-sent events (sources, delta, reset, done, error) for `\"stream\": "
                "true` or `Accept: text/event-stream`; `: keep-alive` comment lines while "
                "nothing is sent (SSE clients ignore them).",
                "headers": OPENAPI_HEADERS}
_ERRORS[429] = {"model": ErrorResponse, **OPENAPI_429,
                "description": "Over the API key's rate limit (`rate_limited`), or over a budget "
                "window with no free rung allowed (`budget_exhausted`, `X-Budget-Window`); "
                "`Retry-After` says when to retry (seconds)."}
# The format depends on Accept: a shared cache must not serve one client's format to another.
_VARY = {"Vary": "Accept"}
# The route returns the Response itself, its body encoded by pydantic's serializer (the bytes
# FastAPI's response_model would produce): FastAPI would otherwise validate the reply a second
# time and serialise it through its generic path, and the `Response` parameter it offers for
# extra headers is one more object per request. AskResponse stays the OpenAPI contract through
# response_model.


async def ask(body: AskRequest, request: Request, ticket: RateLimitDep
              ) -> Response:
    started = time.perf_counter()
    runtime = ticket.runtime
    request_id = request.scope["state"]["request_id"]
    add_log_fields(**question_fields(body.question))  # a hash, the text only at DEBUG
    if wants_events(body.stream, request.headers.get("accept")):
        events = AnswerEvents()
        task = asyncio.create_task(ticket.charged(
            runtime.answers.ask(body.question, body.model, sink=events, team=ticket.client.team)))
        await start(task, events)

        def finish(result: Answer) -> dict[str, Any]:
            return _reply(result, runtime, started, request_id)

        return EventStreamResponse(task, events, finish, problem_body,
                                   keepalive_seconds=runtime.settings.stream_keepalive_seconds)
    result = await ticket.charged(
        runtime.answers.ask(body.question, body.model, team=ticket.client.team))
    reply = _reply(result, runtime, started, request_id)
    if prefers_text(request.headers.get("accept")):
        return PlainTextResponse(render_answer(AskResponse.model_validate(reply)),
                                 media_type=TEXT_PLAIN, headers=_VARY)
    return Response(to_json(reply), media_type="application/json", headers=_VARY)


# A well-formed JSON request skips FastAPI's request handler (app/api/fast_lane.py).
router.add_api_route("/ask", ask, methods=["POST"], response_model=AskResponse,
                     responses=_ERRORS, route_class_override=fast_lane(AskRequest, ask))


def _reply(result: Answer, runtime: Runtime, started: float, request_id: str
           ) -> dict[str, Any]:
    """The reply (the JSON body, or the final event of a stream), counted and logged: the JSON
    form of an AskResponse, built directly, field for field in the model's order with its
    types (floats as floats). Building the model and then dumping it cost three times as much
    on every answer (issue 14); tests/unit/api/test_ask_reply.py holds this to the model's own
    serialisation, byte for byte."""
    u = result.usage
    degraded = result.degraded
    cost_usd = round(float(result.cost_usd), 9)
    reply = {
        "answer": result.answer,
        "model": result.model,
        "cached": result.cached,
        "degraded": {"mode": degraded.mode, "reason": degraded.reason,
                     "detail": degraded.detail} if degraded else None,
        "sources": list(result.sources),
        "latency_s": round(time.perf_counter() - started, 4),
        "tokens": u.total_tokens,
        "usage": {"input": u.input_tokens, "output": u.output_tokens,
                  "cache_read": u.cache_read_tokens, "cache_write": u.cache_write_tokens},
        "cost_usd": cost_usd,
        "cost_estimated": result.cost_estimated,
        "truncated": result.truncated,
        "no_answer": result.no_answer,
        "citations": [{"runbook_id": c.runbook_id, "section": c.section, "quote": c.quote,
                       "text": c.text} for c in result.citations],
        "grounded_share": None if result.grounded_share is None
        else round(float(result.grounded_share), 4),
        "grounded": result.grounded,
        "request_id": request_id,
    }
    runtime.metrics.answer_served(result.model)
    if result.no_answer:
        # Counted per /ask reply, here and not in the pipeline, which the Alertmanager receiver
        # shares: the no-answer ratio (alert AINoAnswerRatioHigh) divides by /ask replies
        runtime.metrics.no_answer.inc()
    add_log_fields(model=result.model, cached=result.cached, tokens=u.total_tokens,
                   cost_usd=cost_usd, sources=result.sources,
                   degraded=degraded.mode if degraded else None, no_answer=result.no_answer,
                   cost_estimated=result.cost_estimated, truncated=result.truncated)
    return reply
