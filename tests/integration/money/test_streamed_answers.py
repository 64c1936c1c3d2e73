"""POST /ask as server-sent events (issue 14, streaming): the sources, the text deltas while the
model writes, then the final event; and the money exact on every exit path.

The real app in process (ManualClock) with the real SDK streaming real SSE from the fake
Anthropic API and the real SQLite ledger. The app is driven through its ASGI interface by a
small client written here (httpx's ASGITransport buffers a whole response and cannot hang up):
it parses the events as they are sent and can go away at any stage, as a browser tab does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, MutableMapping
from typing import Any

import pytest

from app.budget.pricing import cost_usd, nano_to_usd, usd_to_nano
from app.llm.base import Usage
from tests.fakes import anthropic_text
from tests.integration.money.test_estimated_spend import (  # noqa: F401 - fixture
    ArrivalFake,
    fake_anthropic,
    hourly,
    reserved_worst_case,
)
from tests.integration.resilience.conftest import (
    FALLBACK,
    PRIMARY,
    InProcessFactory,
    InProcessService,
    question,
)

pytestmark = pytest.mark.integration

Event = tuple[str, dict[str, Any]]


async def stream_ask(svc: InProcessService, body: dict[str, Any], *,
                     hang_up: Callable[[list[Event]], bool] = lambda _: False,
                     gone: asyncio.Event | None = None,
                     accept: str = "application/json") -> tuple[int, list[Event]]:
    """POST /ask through the app's ASGI interface; the client hangs up (http.disconnect, and
    any later write fails as a closed socket does) once `hang_up(events so far)` or `gone`."""
    gone = gone or asyncio.Event()
    payload = json.dumps(body).encode()
    sent_body = False
    status, buffer, events = 0, b"", []

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status, buffer
        if message["type"] == "http.response.start":
            status = message["status"]
            return
        if gone.is_set():
            raise OSError("the client is gone")
        buffer += message.get("body", b"")
        while b"\n\n" in buffer:
            raw, buffer = buffer.split(b"\n\n", 1)
            # a comment line (": keep-alive") is not an event, as for any SSE client
            lines = dict(line.split(": ", 1) for line in raw.decode().splitlines()
                         if not line.startswith(":"))
            if lines:
                events.append((lines["event"], json.loads(lines["data"])))
        if hang_up(events):
            gone.set()

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
             "http_version": "1.1", "method": "POST", "scheme": "http", "path": "/ask",
             "raw_path": b"/ask", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"svc"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(payload)).encode()),
                         (b"accept", accept.encode())],
             "client": ("127.0.0.1", 40000), "server": ("svc", 80)}
    await svc.app(scope, receive, send)
    return status, events


def kinds(events: list[Event]) -> list[str]:
    return [kind for kind, _ in events]


def deltas(n: int) -> Callable[[list[Event]], bool]:
    return lambda events: kinds(events).count("delta") >= n


async def assert_nothing_reserved(svc: InProcessService, spent_usd: float) -> None:
    window = await hourly(svc)
    assert window["reserved_usd"] == 0
    assert window["spent_usd"] == pytest.approx(spent_usd, abs=1e-9)


async def assert_not_cached(svc: InProcessService, q: str) -> None:
    """The same question again calls the model: nothing of the cut stream was stored."""
    svc.fake.clear_faults()
    before = svc.upstream_calls(PRIMARY)
    body = (await svc.ask(q)).json()
    assert body["cached"] is False and body["model"] == PRIMARY
    assert svc.upstream_calls(PRIMARY) == before + 1


async def test_a_streamed_answer_sends_sources_then_deltas_then_the_billed_usage(
    in_process: InProcessFactory,
) -> None:
    async with in_process() as svc:
        q = question(0)
        status, events = await stream_ask(svc, {"question": q, "stream": True})
        assert status == 200
        names = kinds(events)
        assert names[0] == "sources" and names[-1] == "done"
        assert names.count("delta") >= 3 and set(names[1:-1]) == {"delta"}
        done = events[-1][1]
        assert events[0][1]["sources"] == done["sources"] and done["sources"]
        assert "".join(d["text"] for k, d in events if k == "delta") == done["answer"]
        assert done["cached"] is False and done["degraded"] is None
        assert done["grounded"] is True and done["citations"]
        assert done["request_id"]
        # The usage Anthropic bills, counted once (message_delta repeats it cumulatively).
        sent = svc.fake.requests[-1]
        out = anthropic_text.clip(done["answer"], sent["max_tokens"])[1]
        billed = anthropic_text.PromptCache(0).usage(PRIMARY, sent, out)
        assert done["usage"] == {"input": billed["input_tokens"], "output": out,
                                 "cache_read": 0,
                                 "cache_write": billed["cache_creation_input_tokens"]}
        price = svc.runtime.policies.current.policy.models[PRIMARY]
        exact = nano_to_usd(usd_to_nano(cost_usd(Usage(
            input_tokens=billed["input_tokens"], output_tokens=out,
            cache_write_5m_tokens=billed["cache_creation_input_tokens"]), price)))
        assert done["cost_usd"] == pytest.approx(exact, abs=1e-9)
        assert done["cost_estimated"] is False
        await assert_nothing_reserved(svc, exact)
        assert svc.sample("gen_ai_client_operation_time_to_first_chunk_seconds_count",
                          model=PRIMARY) == 1
        # A completed, grounded stream is cached: the second time it arrives as one delta.
        status, again = await stream_ask(svc, {"question": q}, accept="text/event-stream")
        assert kinds(again) == ["sources", "delta", "done"]
        assert again[1][1]["text"] == done["answer"] and again[2][1]["cached"] is True
        assert svc.upstream_calls(PRIMARY) == 1


async def test_an_offline_answer_streams_as_one_delta(in_process: InProcessFactory) -> None:
    async with in_process() as svc:
        _, events = await stream_ask(svc, {"question": question(1), "model": "offline",
                                           "stream": True})
        assert kinds(events) == ["sources", "delta", "done"]
        assert events[1][1]["text"] == events[2][1]["answer"]
        assert events[2][1]["model"] == "offline"


async def test_a_degraded_offline_answer_streams_as_one_delta(
    in_process: InProcessFactory,
) -> None:
    """Both models drop the connection before any delta: the offline rung answers, whole."""
    async with in_process() as svc:
        svc.fake.fail(reset=True, count=2)
        _, events = await stream_ask(svc, {"question": question(8), "stream": True})
        assert kinds(events) == ["sources", "delta", "done"]
        done = events[2][1]
        assert done["degraded"]["mode"] == "offline" and done["cost_estimated"] is True
        assert events[1][1]["text"] == done["answer"]


async def test_bad_input_is_a_json_error_before_any_event(in_process: InProcessFactory) -> None:
    async with in_process() as svc:
        r = await svc.client.post("/ask", json={"question": "q", "model": "gpt-4",
                                                "stream": True})
        assert r.status_code == 400 and r.json()["error"] and r.json()["request_id"]


async def test_client_gone_before_the_first_delta_settles_the_worst_case(
    in_process: InProcessFactory,
) -> None:
    async with in_process(llm={"timeout_seconds": 30}) as svc:
        fake = svc.fake
        assert isinstance(fake, ArrivalFake)
        fake.fail(model=PRIMARY, hang_after_deltas=0)
        gone = asyncio.Event()

        async def hang_up_once_sent() -> None:
            await fake.arrived.wait()
            gone.set()

        waiter = asyncio.create_task(hang_up_once_sent())
        q = question(2)
        async with asyncio.timeout(10):
            _, events = await stream_ask(svc, {"question": q, "stream": True}, gone=gone)
        await waiter
        assert "delta" not in kinds(events) and "done" not in kinds(events)
        assert svc.sample("ai_estimated_settlements_total", model=PRIMARY,
                          reason="cancelled") == 1
        await assert_nothing_reserved(svc, reserved_worst_case(svc, PRIMARY))
        await assert_not_cached(svc, q)


async def test_client_gone_after_some_deltas_settles_the_worst_case(
    in_process: InProcessFactory,
) -> None:
    async with in_process(llm={"timeout_seconds": 30}) as svc:
        svc.fake.fail(model=PRIMARY, hang_after_deltas=2)
        q = question(3)
        async with asyncio.timeout(10):
            _, events = await stream_ask(svc, {"question": q, "stream": True},
                                         hang_up=deltas(2))
        assert kinds(events) == ["sources", "delta", "delta"]
        assert svc.sample("ai_estimated_settlements_total", model=PRIMARY,
                          reason="cancelled") == 1
        await assert_nothing_reserved(svc, reserved_worst_case(svc, PRIMARY))
        await assert_not_cached(svc, q)


@pytest.mark.parametrize(("fault", "reason"), [
    ({"drop_after_deltas": 2}, "connection"),
    ({"hang_after_deltas": 2}, "timeout"),
    # the API's in-band error after its 200 (overload during generation): the request was
    # accepted and was generating, so it may be billed, and it is the upstream failing
    ({"error_after_deltas": 2}, "overloaded"),
    # the body ends cleanly with the message unfinished: no final usage, no stop reason
    ({"end_after_deltas": 2}, "connection"),
], ids=["upstream-drops-mid-stream", "upstream-hangs-mid-stream", "upstream-error-event",
        "upstream-ends-early"])
async def test_an_upstream_cut_mid_stream_settles_the_worst_case_and_a_lower_rung_answers(
    in_process: InProcessFactory, fault: dict[str, Any], reason: str,
) -> None:
    """The fallback model answers (streamed too) after a `reset`; the cut call is settled at
    its worst case; nothing of the cut stream is cached."""
    async with in_process(llm={"timeout_seconds": 1}) as svc:
        svc.fake.fail(model=PRIMARY, **fault)
        q = question(4)
        async with asyncio.timeout(20):
            status, events = await stream_ask(svc, {"question": q, "stream": True})
        assert status == 200
        names = kinds(events)
        assert names[:3] == ["sources", "delta", "delta"] and names[3] == "reset"
        assert names[-1] == "done"
        done = events[-1][1]
        after_reset = "".join(d["text"] for k, d in events[4:] if k == "delta")
        assert after_reset == done["answer"]
        assert done["degraded"]["mode"] == "fallback_model" and done["cost_estimated"] is True
        estimated = reserved_worst_case(svc, PRIMARY)
        assert svc.sample("ai_estimated_settlements_total", model=PRIMARY, reason=reason) == 1
        assert svc.sample("ai_upstream_requests_total", model=PRIMARY, outcome=reason) == 1
        assert svc.sample("ai_cost_usd_total", model=PRIMARY) == pytest.approx(estimated)
        fallback = svc.sample("ai_cost_usd_total", model=FALLBACK)
        assert done["cost_usd"] == pytest.approx(estimated + fallback, abs=1e-9)
        await assert_nothing_reserved(svc, estimated + fallback)
        svc.fake.clear_faults()
        before = svc.upstream_calls(PRIMARY)
        again = (await svc.ask(q)).json()
        assert again["model"] == PRIMARY and again["cached"] is False
        assert svc.upstream_calls(PRIMARY) == before + 1


async def test_a_declined_answer_replaces_the_streamed_refusal(
    in_process: InProcessFactory,
) -> None:
    """The model writes a refusal, then calls no_answer: the answer is the no-answer text."""
    async with in_process() as svc:
        svc.fake.set_citation_mode("decline")
        _, events = await stream_ask(svc, {"question": question(5), "stream": True})
        names = kinds(events)
        assert names[0] == "sources" and names[-3:] == ["reset", "delta", "done"]
        done = events[-1][1]
        assert done["no_answer"] is True and events[-2][1]["text"] == done["answer"]


async def test_a_refusal_stop_mid_answer_is_a_no_answer_paid_for_and_never_cached(
    in_process: InProcessFactory,
) -> None:
    """The API's classifier stops an answer it had begun (stop_reason "refusal"): the cited
    text so far is not an answer to serve or cache, but the call was billed."""
    async with in_process() as svc:
        svc.fake.set_citation_mode("refuse")
        q = question(9)
        _, events = await stream_ask(svc, {"question": q, "stream": True})
        names = kinds(events)
        assert names[0] == "sources" and "delta" in names[1:-3]
        assert names[-3:] == ["reset", "delta", "done"]
        done = events[-1][1]
        assert done["no_answer"] is True and events[-2][1]["text"] == done["answer"]
        assert done["cost_usd"] > 0 and done["cost_estimated"] is False
        assert svc.sample("ai_cost_usd_total", model=PRIMARY) == pytest.approx(done["cost_usd"])
        await assert_nothing_reserved(svc, done["cost_usd"])
        before = svc.upstream_calls(PRIMARY)
        again = (await svc.ask(q)).json()
        assert again["cached"] is False and again["no_answer"] is True
        assert svc.upstream_calls(PRIMARY) == before + 1


async def test_an_error_after_the_stream_started_is_an_error_event(
    in_process: InProcessFactory,
) -> None:
    """No rung answers (both models drop the connection, no free rung allowed): the sources were
    sent, so the error comes as an event with the problem body; both calls are in the ledger."""
    async with in_process(degradation={"offline": False, "stale_cache": False}) as svc:
        svc.fake.fail(reset=True, count=2)
        status, events = await stream_ask(svc, {"question": question(6), "stream": True})
        assert status == 200 and kinds(events) == ["sources", "error"]
        problem = events[1][1]
        assert problem["error"] == "upstream_error" and problem["status"] == 502
        assert problem["request_id"] and problem["detail"]
        # the request's metric counts the error (the JSON reply's 502), not the stream's 200
        assert svc.sample("ai_requests_total", endpoint="/ask", status="502") == 1
        assert svc.sample("ai_requests_total", endpoint="/ask", status="200") == 0
        both = reserved_worst_case(svc, PRIMARY) + reserved_worst_case(svc, FALLBACK)
        await assert_nothing_reserved(svc, both)


TPM = {"default": {"tokens_per_minute": 1_000_000}}


async def test_a_client_gone_mid_stream_is_charged_its_tokens_per_minute(
    in_process: InProcessFactory,
) -> None:
    """A key that hangs up once it has read the text: its tokens per minute are charged the
    worst case its budget was settled at, not nothing (it could stream on, never limited)."""
    async with in_process(llm={"timeout_seconds": 30}, rate_limits=TPM) as svc:
        svc.fake.fail(model=PRIMARY, hang_after_deltas=2)
        async with asyncio.timeout(10):
            _, events = await stream_ask(svc, {"question": question(7), "stream": True},
                                         hang_up=deltas(2))
        assert kinds(events) == ["sources", "delta", "delta"]
        assert svc.sample("ai_estimated_settlements_total", model=PRIMARY,
                          reason="cancelled") == 1
        assert svc.sample("ai_rate_limit_tokens_charged_total") > 1024  # input + max_tokens


async def test_a_call_cut_mid_stream_is_charged_with_the_rung_that_answered(
    in_process: InProcessFactory,
) -> None:
    async with in_process(llm={"timeout_seconds": 1}, rate_limits=TPM) as svc:
        svc.fake.fail(model=PRIMARY, drop_after_deltas=2)
        async with asyncio.timeout(20):
            _, events = await stream_ask(svc, {"question": question(8), "stream": True})
        done = events[-1][1]
        assert done["degraded"]["mode"] == "fallback_model"
        answered = sum(done["usage"][k] for k in ("input", "output", "cache_write"))
        assert svc.sample("ai_rate_limit_tokens_charged_total") > answered + 1024
