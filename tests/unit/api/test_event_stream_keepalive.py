"""A streamed answer that goes quiet gets `: keep-alive` comment lines, one per interval in which
nothing else was sent, so a proxy's idle timeout does not cut it (app/api/event_stream.py).

The response is driven through its ASGI interface with the pipeline replaced by a task the test
steps through, and the keep-alive's sleep injected: each interval ends when the test says so,
never by waiting for time to pass."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

import pytest

from app.api.event_stream import (
    KEEPALIVE_FRAME,
    AnswerEvents,
    EventStreamResponse,
    start,
    wants_events,
)
from app.api.middleware import STREAM_STATUS
from app.errors import DomainError
from app.logs import request_id_var
from app.services.answer_types import Answer

INTERVAL = 15.0
NEVER_SECONDS = 10.0


class Intervals:
    """The injected sleep: an interval ends when the test calls `end()`."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self._ends: asyncio.Queue[None] = asyncio.Queue()
        self._waiting = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        self._waiting.set()
        await self._ends.get()

    async def end(self, *, last: bool = False) -> None:
        """End the interval in progress and, unless it is the `last`, wait until the response
        has acted on it (the next interval has begun)."""
        await self._waiting.wait()
        self._waiting.clear()
        self._ends.put_nowait(None)
        if not last:
            await self._waiting.wait()


class Client:
    """Collects what the response writes, split into frames."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.gone = asyncio.Event()
        self.wrote = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            self.frames.append(message["body"])
            self.wrote.set()

    async def next_frame(self) -> bytes:
        # The limit only turns a frame that never comes into a failure instead of a hang.
        async with asyncio.timeout(NEVER_SECONDS):
            while not self.frames:
                self.wrote.clear()
                await self.wrote.wait()
        return self.frames.pop(0)


def events_of(frames: list[bytes]) -> list[tuple[str, Any]]:
    """What an SSE client hears: comment lines (starting with ':') are not events."""
    out = []
    for frame in frames:
        lines = [line for line in frame.decode().splitlines()
                 if line and not line.startswith(":")]
        if lines:
            fields = dict(line.split(": ", 1) for line in lines)
            out.append((fields["event"], json.loads(fields["data"])))
    return out


def problem(exc: DomainError) -> dict[str, Any]:
    return {"error": type(exc).__name__}


async def serve(client: Client, until: asyncio.Event
                ) -> tuple[AnswerEvents, asyncio.Task[Answer], Intervals, asyncio.Task[None]]:
    """A streamed answer whose pipeline sends its sources, then is quiet until `until`."""
    events = AnswerEvents()

    async def pipeline() -> Answer:
        events.sources(["pod-oomkilled"])
        await until.wait()
        return Answer("Describe the pod.", "claude-sonnet-4-6", ["pod-oomkilled"])

    task = asyncio.create_task(pipeline())
    await start(task, events)
    intervals = Intervals()
    response = EventStreamResponse(task, events, lambda a: {"answer": a.answer}, problem,
                                   keepalive_seconds=INTERVAL, sleep=intervals.sleep)
    served = asyncio.create_task(response({"type": "http"}, client.receive, client.send))
    assert b"event: sources" in await client.next_frame()
    return events, task, intervals, served


async def test_a_quiet_stream_gets_a_keepalive_per_idle_interval_and_none_while_it_talks(
) -> None:
    client, release = Client(), asyncio.Event()
    events, _, intervals, served = await serve(client, release)

    await intervals.end()  # a whole interval of silence after the sources
    assert await client.next_frame() == KEEPALIVE_FRAME
    await intervals.end()  # and another
    assert await client.next_frame() == KEEPALIVE_FRAME
    events.delta("Describe ")  # the model writes: this interval needs no keep-alive
    assert b"event: delta" in await client.next_frame()
    await intervals.end()
    assert client.frames == []
    await intervals.end()  # silent again
    assert await client.next_frame() == KEEPALIVE_FRAME

    release.set()
    async with asyncio.timeout(NEVER_SECONDS):
        await served
    assert events_of(client.frames) == [("reset", {}), ("delta", {"text": "Describe the pod."}),
                                        ("done", {"answer": "Describe the pod."})]
    assert set(intervals.asked) == {INTERVAL}


class GoneClient(Client):
    """A client whose connection is gone, unnoticed until the next write (a keep-alive)."""

    async def send(self, message: MutableMapping[str, Any]) -> None:
        if message.get("body") == KEEPALIVE_FRAME:
            raise OSError("connection reset by peer")  # what a closed socket does
        await super().send(message)


async def test_a_keepalive_to_a_client_that_is_gone_ends_the_stream_and_cancels_the_pipeline(
) -> None:
    _, task, intervals, served = await serve(GoneClient(), asyncio.Event())  # never answers
    await intervals.end(last=True)  # a silent interval: its keep-alive fails to send
    async with asyncio.timeout(NEVER_SECONDS):
        await served
    assert task.cancelled()


async def test_an_unexpected_error_after_the_sources_ends_the_stream_with_an_error_event(
) -> None:
    """The response has started (200): a bug in the pipeline is told to the client in the
    stream, with the request id to find its traceback, not by a connection cut mid-answer."""
    client, events = Client(), AnswerEvents()

    async def pipeline() -> Answer:
        events.sources(["pod-oomkilled"])
        events.delta("Describe ")
        await asyncio.sleep(0)  # a loop turn: the response is streaming by now
        raise RuntimeError("a bug")

    task = asyncio.create_task(pipeline())
    await start(task, events)
    response = EventStreamResponse(task, events, lambda a: {"answer": a.answer}, problem,
                                   keepalive_seconds=INTERVAL, sleep=Intervals().sleep)
    token = request_id_var.set("rid-7")
    scope: dict[str, Any] = {"type": "http", "state": {}}
    try:
        async with asyncio.timeout(NEVER_SECONDS):
            await response(scope, client.receive, client.send)
    finally:
        request_id_var.reset(token)
    assert scope["state"][STREAM_STATUS] == 500  # what the request's metric and log count
    assert events_of(client.frames) == [
        ("sources", {"sources": ["pod-oomkilled"]}), ("delta", {"text": "Describe "}),
        ("error", {"error": "internal_error", "detail": "unexpected error; see the service log",
                   "request_id": "rid-7", "status": 500})]


@pytest.mark.parametrize(("stream", "accept", "events"), [
    (True, None, True),
    (False, None, False),
    (False, "text/event-stream", True),  # EventSource's own header
    (False, "text/event-stream, */*", True),
    (False, "application/json, text/event-stream;q=0.1", False),  # JSON preferred
    (False, "text/event-stream;q=0", False),  # "not acceptable"
    (False, "text/*", False),  # plain text's business (app/api/plain_text.py)
    (False, "text/plain, text/event-stream;q=0.1", False),  # plain text preferred
    (False, "text/*, text/event-stream;q=0.2", False),
    (False, "*/*", False),
])
def test_event_streams_are_negotiated_by_quality(stream: bool, accept: str | None,
                                                 events: bool) -> None:
    assert wants_events(stream, accept) is events
