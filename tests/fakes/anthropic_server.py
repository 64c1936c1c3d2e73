"""A local fake of the Anthropic Messages API, for integration tests and benchmarks.

It speaks enough of `POST /v1/messages` for the real `anthropic` SDK: headers are checked,
replies are realistic Message JSON with deterministic usage (about 4 characters per token), or
with `"stream": true` the same Message as server-sent events (anthropic_stream.py),
prompt caching is simulated (the first call with a cacheable system prefix writes the cache,
identical later ones read it), and `anthropic-ratelimit-*` headers count down per call.
With runbook documents in the message, the answer quotes them with real `char_location`
citations (anthropic_citations.py, in the mode set); without, it cites the runbooks found in the
system prompt (`<runbook id="x">` or `[runbook: x]`) as `[runbook: x]`. A configured canned
reply overrides both and carries no citations.

Faults (anthropic_faults.py) are injected in process (`FakeAnthropic.fail(...)`) or over HTTP,
so a test can drive a fake that runs in another process:

    POST   /_fake/faults      a fault object or a list of them (queued)
    DELETE /_fake/faults      clear the queue
    GET    /_fake/faults      the pending faults
    GET    /_fake/stats       call counts: total, by_model, by_outcome, in_flight, max_in_flight
    POST   /_fake/reset       back to the initial state: stats, prompt cache, faults, reply, limits
    POST   /_fake/reply       {"text": "..."} canned answer; {"text": null} back to citing
    POST   /_fake/citations   {"mode": "cite|uncited|outside|mismatch|decline"}
    POST   /v1/messages/count_tokens  the input tokens of a request (nothing cached)
    POST   /_fake/ratelimits  {"requests": {"limit": 50, "remaining": 3}, "tokens": {...}}
    GET    /_fake/requests    the last requests received (API key never recorded)
    GET    /_fake/billed      the fake's own bill: model, usage and caller address of every
                              reply it produced (the e2e money proof prices it independently)
    GET    /_fake/health      {"ok": true}

Run as a process: `python -m tests.fakes.anthropic_server --port 0` prints
`fake-anthropic listening on http://127.0.0.1:<port>` once it accepts connections.
Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter, deque
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.fakes import anthropic_citations as citations
from tests.fakes import anthropic_stream
from tests.fakes import anthropic_text as text
from tests.fakes.anthropic_admin import control
from tests.fakes.anthropic_faults import Fault, FaultQueue
from tests.fakes.anthropic_wire import RateLimits, abort, credential, error_response

_RECORDED_REQUESTS = 100
_RECORDED_BILLS = 100_000
_OUTCOME = web.RequestKey("fake_outcome", str)


class FakeAnthropic:
    """The fake server and its in-process control handle. Use `async with FakeAnthropic()`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        reply: str | None = None,
        min_cacheable_tokens: int = 0,
        citation_mode: str = "cite",
    ) -> None:
        self._host, self._port = host, port
        # When set, any other API key is refused with 401 (else any non-empty key is accepted).
        self.api_key = api_key
        self._min_cacheable_tokens = min_cacheable_tokens
        self._initial_reply = reply
        self._initial_citation_mode = citation_mode
        self.forced_stop_reason: str | None = None
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.faults = FaultQueue()
        # (count, future) of in-process callers of `until_in_flight`
        self._in_flight_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.reset()

    # ------------------------------------------------------------ in-process control API

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the fake is not started")
        return f"http://{self._host}:{self._port}"

    def fail(self, status: int | None = None, **fault: Any) -> Fault:
        """Queue a fault: `fail(529)`, `fail(429, retry_after=3)`, `fail(hang=True)`,
        `fail(delay_seconds=1, count=2)`, `fail(reset=True)`, `fail(500, until_cleared=True)`."""
        f = Fault(status=status, **fault)
        self.faults.add(f)
        return f

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_reply(self, reply: str | None) -> None:
        self.reply = reply

    def set_stop_reason(self, reason: str | None) -> None:
        """Every reply's stop_reason from now on (None: as the reply decides), for the ones the
        fake's replies never reach on their own (model_context_window_exceeded, pause_turn)."""
        self.forced_stop_reason = reason

    def set_citation_mode(self, mode: str) -> None:
        """cite (default), uncited, outside, mismatch, decline, refuse: anthropic_citations.py."""
        if mode not in citations.CITATION_MODES:
            raise ValueError(f"citation mode must be one of {citations.CITATION_MODES}")
        self.citation_mode = mode

    def set_rate_limit(
        self, kind: str, *, limit: int | None = None, remaining: int | None = None
    ) -> None:
        """kind: requests, tokens, input-tokens, output-tokens."""
        self.rate_limits.set(kind, limit=limit, remaining=remaining)

    def reset(self) -> None:
        self.faults.clear()
        self.reply = self._initial_reply
        self.citation_mode = self._initial_citation_mode
        self.forced_stop_reason = None
        self.rate_limits = RateLimits()
        self.prompt_cache = text.PromptCache(self._min_cacheable_tokens)
        self._total = 0
        self._by_model: Counter[str] = Counter()
        self._by_outcome: Counter[str] = Counter()
        self._delayed = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._requests: deque[dict[str, Any]] = deque(maxlen=_RECORDED_REQUESTS)
        self._billed: deque[dict[str, Any]] = deque(maxlen=_RECORDED_BILLS)

    @property
    def stats(self) -> dict[str, Any]:
        return {
            "total": self._total,
            "by_model": dict(self._by_model),
            "by_outcome": dict(self._by_outcome),
            "delayed": self._delayed,
            "in_flight": self._in_flight,
            "max_in_flight": self._max_in_flight,
            "faults_pending": len(self.faults.pending()),
        }

    async def until_in_flight(self, count: int) -> None:
        """Return once exactly `count` calls are in flight: a test waits on the fake's state,
        not on a timer (bound it with `asyncio.timeout`)."""
        if self._in_flight == count:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight_waiters.append((count, waiter))
        await waiter

    def _count_in_flight(self, delta: int) -> None:
        self._in_flight += delta
        self._max_in_flight = max(self._max_in_flight, self._in_flight)
        for count, waiter in self._in_flight_waiters:
            if count == self._in_flight and not waiter.done():
                waiter.set_result(None)
        self._in_flight_waiters = [w for w in self._in_flight_waiters if not w[1].done()]

    @property
    def requests(self) -> list[dict[str, Any]]:
        return list(self._requests)

    @property
    def billed(self) -> list[dict[str, Any]]:
        """Every reply produced (what Anthropic would bill): model, usage, caller address."""
        return list(self._billed)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> Self:
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_get("/v1/models", self._models)
        app.router.add_route("*", "/_fake/{action}", self._control)
        # handler_cancellation: a hanging handler ends when the client hangs up.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=2.0, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------ POST /v1/messages

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        self._total += 1
        self._count_in_flight(1)
        try:
            return await self._answer(request)
        except asyncio.CancelledError:  # the client hung up before the answer was decided
            if _OUTCOME not in request:
                self._by_outcome["client_gone"] += 1
            raise
        finally:
            self._count_in_flight(-1)

    def _outcome(self, request: web.Request, outcome: str) -> None:
        """Count the call's outcome as soon as it is known (a hang's before the client quits)."""
        request[_OUTCOME] = outcome
        self._by_outcome[outcome] += 1

    async def _models(self, request: web.Request) -> web.Response:
        """GET /v1/models: free and authenticated (`sre-ai-platform check --check-key`)."""
        key = credential(request)
        if not key or (self.api_key is not None and key != self.api_key):
            return error_response(401, "invalid x-api-key")
        model = {"type": "model", "id": "claude-sonnet-4-6", "display_name": "Claude Sonnet 4.6",
                 "created_at": "2025-01-01T00:00:00Z"}
        return web.json_response({"data": [model], "has_more": False,
                                  "first_id": model["id"], "last_id": model["id"]})

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        key = credential(request)
        if not key or (self.api_key is not None and key != self.api_key):
            self._outcome(request, "401")
            return error_response(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            self._outcome(request, "400")
            return error_response(400, "anthropic-version: header is required")
        try:
            body = await request.json()
            model, max_tokens = body["model"], body["max_tokens"]
            if not isinstance(model, str) or not isinstance(max_tokens, int) or max_tokens < 1:
                raise TypeError
            if not isinstance(body["messages"], list) or not body["messages"]:
                raise TypeError
        except (ValueError, KeyError, TypeError):
            self._outcome(request, "400")
            return error_response(400, "model, max_tokens >= 1 and messages are required")
        self._by_model[model] += 1
        self._record(request, body)

        fault = self.faults.take(model)
        if fault is not None:
            if fault.hang:
                self._outcome(request, "hang")
                await self._closing.wait()  # cancelled when the client gives up
                abort(request)
                return web.Response()
            if fault.reset:
                self._outcome(request, "reset")
                abort(request)
                return web.Response()
            if fault.trickle:
                self._outcome(request, "trickle")
                return await self._trickle(request)
            if fault.delay_seconds:
                self._delayed += 1
                await asyncio.sleep(fault.delay_seconds)
            if fault.garbage:
                self._outcome(request, "garbage")
                return web.Response(text="<html>502 Bad Gateway</html>", content_type="text/html")
            if fault.status is not None:
                self._outcome(request, str(fault.status))
                return self._fault_reply(fault)
        self._outcome(request, "ok")
        message, headers = self._message(model, max_tokens, body)
        self._billed.append({"model": model, "usage": message["usage"], "remote": request.remote})
        if body.get("stream") is True:
            return await anthropic_stream.send(
                request, message, headers, closing=self._closing,
                drop_after=fault.drop_after_deltas if fault else None,
                hang_after=fault.hang_after_deltas if fault else None,
                error_after=fault.error_after_deltas if fault else None,
                end_after=fault.end_after_deltas if fault else None,
                error_type=fault.stream_error if fault else "")
        if fault is not None and fault.truncated:
            return await _truncated(request, message, headers)
        return web.json_response(message, headers=headers)

    async def _count_tokens(self, request: web.Request) -> web.Response:
        """What `messages.count_tokens` answers: the input tokens, nothing cached, no charge."""
        body = await request.json()
        usage = text.PromptCache(min_cacheable_tokens=10**12).usage(str(body.get("model")),
                                                                  body, 0)
        return web.json_response({"input_tokens": usage["input_tokens"]})

    async def _trickle(self, request: web.Request) -> web.StreamResponse:
        """200 and headers at once, then a byte of body every 0.1 s, never finishing: a read
        timeout that restarts on every byte never fires, only a total deadline ends it."""
        response = web.StreamResponse(headers={"content-type": "application/json"})
        await response.prepare(request)
        while not self._closing.is_set():
            await response.write(b" ")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), 0.1)
        abort(request)
        return response

    def _record(self, request: web.Request, body: dict[str, Any]) -> None:
        self._requests.append(
            {
                "model": body["model"],
                "max_tokens": body["max_tokens"],
                "system": body.get("system"),
                "tools": body.get("tools"),
                "messages": body["messages"],
                "anthropic_version": request.headers.get("anthropic-version"),
                "retry_count": request.headers.get("x-stainless-retry-count"),
                "timeout": request.headers.get("x-stainless-timeout"),
                "remote": request.remote,
            }
        )

    def _fault_reply(self, fault: Fault) -> web.Response:
        assert fault.status is not None
        headers = self.rate_limits.headers()
        if fault.retry_after is not None:
            headers["retry-after"] = str(fault.retry_after)
        return error_response(fault.status, fault.message, headers=headers)

    def _content(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        """The reply's content blocks and, when decided here, its stop_reason."""
        docs = citations.documents(body)
        if self.reply is not None or not docs:
            system = text.system_text(body.get("system"))
            answer = self.reply if self.reply is not None else text.cited_answer(system, body)
            return [{"type": "text", "text": answer}], None
        if self.citation_mode == "decline" and citations.offers_tool(body, "no_answer"):
            return citations.decline_blocks(), "tool_use"
        if self.citation_mode == "decline":
            return [{"type": "text", "text": citations.REWORDED_REFUSAL}], None
        question = " ".join(text.messages_text(body["messages"]).split())
        question = question.removeprefix("<question> ").removesuffix(" </question>")
        if self.citation_mode == "refuse":
            return citations.cited_blocks(docs, question, "cite")[:2], "refusal"
        return citations.cited_blocks(docs, question, self.citation_mode), None

    def _message(self, model: str, max_tokens: int,
                 body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        content, stop_reason = self._content(body)
        whole = "".join(str(b.get("text", "")) for b in content)
        clipped, output_tokens, clip_reason = text.clip(whole, max_tokens)
        if clip_reason == "max_tokens":  # cut mid-answer: one uncited block, as far as it got
            content, stop_reason = [{"type": "text", "text": clipped}], clip_reason
        stop_reason = self.forced_stop_reason or stop_reason or clip_reason
        usage = self.prompt_cache.usage(model, body, output_tokens)
        self.rate_limits.spend(
            usage["input_tokens"] + usage["cache_creation_input_tokens"], output_tokens
        )
        message = {
            "id": f"msg_fake_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
        return message, self.rate_limits.headers()

    # ------------------------------------------------------------ control API over HTTP

    async def _control(self, request: web.Request) -> web.Response:
        return await control(self, request)


if __name__ == "__main__":
    from tests.fakes.anthropic_admin import main

    main()


async def _truncated(request: web.Request, message: dict[str, Any],
                     headers: dict[str, str]) -> web.StreamResponse:
    """The 200's JSON cut in half, the body then ended cleanly (chunked: no length to miss)."""
    body = json.dumps(message).encode()
    response = web.StreamResponse(headers={**headers, "content-type": "application/json"})
    await response.prepare(request)
    await response.write(body[:len(body) // 2])
    await response.write_eof()
    return response
