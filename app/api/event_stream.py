"""POST /ask as server-sent events (`"stream": true` in the body, or `Accept:
text/event-stream`): the answer while Claude writes it.

Events, in order (each `data:` is one line of JSON):
    sources  {"sources": [...]}            after retrieval, before any model call
    delta    {"text": "..."}               the answer's text as it is written; a cached,
                                           offline or no-answer answer arrives as one delta
    reset    {}                            a paid call broke after some deltas and a lower rung
                                           answered: drop the text so far, the next delta is
                                           the whole answer (the final event's `degraded` says
                                           which rung)
    done     the AskResponse JSON          usage, cost_usd, cached, degraded, citations,
                                           grounded, request_id: what the JSON reply carries
    error    the problem JSON              {"error", "detail", "request_id", "status"}, then
                                           the end (an unexpected error too: internal_error, 500)

Between events, a comment line (`: keep-alive`, which SSE clients ignore) whenever nothing was
sent for `keepalive_seconds` (SRE_AI_STREAM_KEEPALIVE_SECONDS, 15 s): a stream can be silent for
a long time after its sources (a coalesced wait for another request's answer, a slow first
token, a timed-out call and the fallback model after it), and ingress controllers and load
balancers cut a response idle for their read timeout (60 s for nginx and AWS ALB by default),
which the client would see as a broken stream although an answer was coming. A write to a
client that is gone fails, which ends the stream like a disconnect.

The pipeline (AnswerService.ask) runs in a task; an error before anything was sent (a bad
question, an unknown model) is an ordinary JSON error with its status. The sources are sent
before any model call, so a budget refusal with no free rung to fall back on arrives as an
`error` event (status 429, with its `budget` object) after them. The response
listens for the client going away: a disconnect cancels the task, so the paid call's cancelled
path settles its reservation at the worst case (the tokens billed so far are not knowable), and
a partial answer is never cached.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.api.accept import JSON_TYPES, TEXT_TYPES, quality
from app.api.errors import internal_problem_body
from app.api.middleware import STREAM_STATUS
from app.clock import Sleep
from app.errors import DomainError
from app.services.answer import Answer

EVENT_STREAM = "text/event-stream"
_END = ("end", None)
_KEEPALIVE = ("keep-alive", None)
KEEPALIVE_FRAME = b": keep-alive\n\n"
error_log = logging.getLogger("app.errors")


class AnswerEvents:
    """The AnswerSink of a streamed ask: what the pipeline reports, queued for the response."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.streamed = ""  # the text sent as deltas so far
        self.started = asyncio.Event()  # something to send, or the pipeline ended
        self.puts = 0  # items queued so far: the keep-alive's "was anything sent" check

    def put(self, item: tuple[str, Any]) -> None:
        self.queue.put_nowait(item)
        self.puts += 1
        self.started.set()

    def sources(self, sources: list[str]) -> None:
        self.put(("sources", {"sources": list(sources)}))

    def delta(self, text: str) -> None:
        self.streamed += text
        self.put(("delta", {"text": text}))

    def restart(self) -> None:
        if self.streamed:
            self.streamed = ""
            self.put(("reset", {}))


async def start(task: asyncio.Task[Answer], events: AnswerEvents) -> None:
    """Wait until the pipeline has something to send. A DomainError before that (a bad
    question, an unknown model: before the search) is raised here: a plain JSON error with its
    status."""
    task.add_done_callback(lambda _: events.put(_END))
    try:
        await events.started.wait()
    except BaseException:
        task.cancel()
        raise
    if task.done() and events.queue.qsize() == 1 and not task.cancelled():
        exc = task.exception()
        if exc is not None:
            raise exc


def wants_events(stream: bool, accept: str | None) -> bool:
    """`"stream": true`, or an Accept header that ranks event streams at least as high as
    the other formats (`text/event-stream`, or with `*/*` beside it); `text/event-stream;q=0`,
    or ranked below JSON or plain text, gets that format."""
    if stream:
        return True
    if not accept:
        return False
    events = quality(accept, (EVENT_STREAM,))
    return events > 0 and events >= max(quality(accept, JSON_TYPES),
                                        quality(accept, TEXT_TYPES))


def frame(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class EventStreamResponse(Response):
    """An ASGI response that sends the events of `task` as they come, then the final ones.

    `finish(answer)` turns the Answer into the `done` body (and writes the summary log fields);
    `problem(exc)` a DomainError into the error body. `sleep` paces the keep-alive (injected
    by tests)."""

    def __init__(self, task: asyncio.Task[Answer], events: AnswerEvents,
                 finish: Callable[[Answer], dict[str, Any]],
                 problem: Callable[[DomainError], dict[str, Any]], *,
                 keepalive_seconds: float, sleep: Sleep = asyncio.sleep) -> None:
        super().__init__(media_type=EVENT_STREAM)  # a Response: FastAPI sends it as it is
        self._task, self._events = task, events
        self._finish, self._problem = finish, problem
        self._keepalive_seconds, self._sleep = keepalive_seconds, sleep
        self._error_status: int | None = None  # the status of the error event sent, if any

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = asyncio.create_task(self._until_disconnect(receive))
        beats: asyncio.Task[None] | None = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no"),
                (b"vary", b"Accept")]})
            beats = asyncio.create_task(self._keep_alive())
            async for chunk in self._frames():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            if self._error_status is not None:
                scope.setdefault("state", {})[STREAM_STATUS] = self._error_status
        except OSError:
            pass  # the client went away while we wrote: the watcher's cancel covers the money
        finally:
            watcher.cancel()
            if beats is not None:
                beats.cancel()
            self._task.cancel()
            # Wait for the cancelled call's settle (shielded) without swallowing our own
            # cancellation; its error, if any, was sent as an event or nobody is listening.
            await asyncio.wait([self._task])
            if not self._task.cancelled():
                self._task.exception()

    async def _until_disconnect(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._task.cancel()  # the client is gone: the paid call settles as cancelled

    async def _keep_alive(self) -> None:
        """A keep-alive after every interval in which nothing was queued."""
        events = self._events
        while True:
            queued = events.puts
            await self._sleep(self._keepalive_seconds)
            if events.puts == queued:
                events.put(_KEEPALIVE)

    async def _frames(self) -> Any:
        events = self._events
        sent_sources = False
        while (item := await events.queue.get()) is not _END:
            if item is _KEEPALIVE:
                yield KEEPALIVE_FRAME
                continue
            kind, data = item
            sent_sources = sent_sources or kind == "sources"
            yield frame(kind, data)
        if self._task.cancelled():
            return
        exc = self._task.exception()
        if isinstance(exc, DomainError):
            problem = self._problem(exc)
            status = problem.get("status")
            self._error_status = status if isinstance(status, int) else 500
            yield frame("error", problem)
            return
        if exc is not None:
            # The response has started: the client is told in the stream, with the request id
            # to find this traceback, instead of a connection cut after its last delta.
            error_log.error("unhandled error in a streamed answer", exc_info=exc,
                            extra={"fields": {"response_started": True}})
            self._error_status = 500
            yield frame("error", internal_problem_body())
            return
        answer = self._task.result()
        if not sent_sources:
            yield frame("sources", {"sources": answer.sources})
        if events.streamed != answer.answer:
            if events.streamed:
                yield frame("reset", {})
            yield frame("delta", {"text": answer.answer})
        yield frame("done", self._finish(answer))
