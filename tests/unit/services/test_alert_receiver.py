"""AlertReceiver over the real AnswerService (fake Provider at the edge, as the ladder tests):
firing alerts answered in the background and handed to the on_answer hook, a failed answer
releases its claim so a re-send tries again, a full queue refuses instead of losing silently,
and stop() drains what was queued."""

from __future__ import annotations

import asyncio
from typing import Any

from app.errors import UpstreamError
from app.llm.base import Completion, CompletionRequest
from app.services.alert_gate import ANSWERING_SECONDS, AlertGate
from app.services.alert_payload import AlertRecord, WebhookPayload
from app.services.alert_records import AlertRecords
from app.services.alerts import AlertReceiver
from tests.unit.services.test_answer_ladder import FALLBACK, INDEX, PRIMARY, Harness


def payload(*fingerprints: str, status: str = "firing") -> WebhookPayload:
    return WebhookPayload.model_validate({
        "version": "4", "status": status, "groupKey": "g", "alerts": [
            {"status": status, "labels": {"alertname": "KubePodCrashLooping", "pod": fp},
             "annotations": {}, "startsAt": "2026-11-30T10:00:00Z", "fingerprint": fp}
            for fp in fingerprints]})


def receiver(h: Harness, **kw: Any) -> tuple[AlertReceiver, AlertRecords]:
    records = AlertRecords(lambda: h.policy.alerts.recent_max)
    gate = AlertGate(lambda: h.policy.alerts, h.clock)
    return AlertReceiver(answers=h.service, gate=gate, records=records, metrics=h.metrics,
                         clock=h.clock, policy=lambda: h.policy, index=lambda: INDEX,
                         **kw), records


async def test_answers_reach_the_records_and_the_hook_and_a_repeat_is_a_duplicate() -> None:
    h = Harness()
    delivered: list[AlertRecord] = []

    async def hook(record: AlertRecord) -> None:
        delivered.append(record)

    rx, records = receiver(h, on_answer=hook)
    rx.start()
    try:
        got = await rx.receive(payload("a", "b"))
        assert (got.accepted, got.duplicate) == (2, 0)
        await rx.idle()
        assert (await rx.receive(payload("a"))).duplicate == 1
        await rx.idle()
    finally:
        await rx.stop()
    assert sorted(r.fingerprint for r in delivered) == ["a", "b"]
    # the second pod's alert reuses the first one's answer (the pipeline's caches): paid once
    assert sorted(str(r.mode) for r in delivered) == ["cached", "paid"]
    assert len(h.provider.calls) == 1
    assert len(await records.recent()) == 2
    assert h.sample("ai_alerts_answered_total", mode="duplicate") == 1
    assert h.sample("ai_alerts_received_total", status="firing") == 3


async def test_a_failed_answer_is_recorded_and_released_for_the_next_resend() -> None:
    h = Harness("degradation: {offline: false, stale_cache: false}")
    for model in (PRIMARY, FALLBACK):
        h.provider.failures[model] = UpstreamError("down", kind="overloaded", status=529)
    rx, records = receiver(h)
    rx.start()
    try:
        await rx.receive(payload("a"))
        await rx.idle()
        [rec] = await records.recent()
        assert rec.mode == "error" and rec.answer is None
        assert h.sample("ai_alert_errors_total") == 1
        h.provider.failures.clear()
        assert (await rx.receive(payload("a"))).accepted == 1  # released: tried again
        await rx.idle()
    finally:
        await rx.stop()
    assert (await records.recent())[0].mode == "paid"


async def test_a_full_queue_refuses_and_releases_and_stop_drains_the_queue() -> None:
    h = Harness()
    rx, records = receiver(h, queue_max=2)
    got = await rx.receive(payload("a", "b", "c"))  # no workers yet: the queue fills
    assert (got.accepted, got.dropped) == (2, 1)
    rx.start()
    await rx.stop()  # drains before it cancels
    assert len(await records.recent()) == 2
    assert (await rx.receive(payload("c"))).accepted == 1  # "c" was released, not lost


async def test_stop_releases_the_claims_of_the_alerts_it_did_not_answer() -> None:
    """A pod shutting down mid-storm: the alert being answered and those queued are neither
    answered nor lost. Their claims are released, so Alertmanager's re-send (to another
    replica, or this one's successor) is answered, not counted a duplicate for a week."""
    h = Harness()
    answering = asyncio.Event()

    async def hangs(request: CompletionRequest) -> Completion:  # past the drain
        answering.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    h.provider.complete = hangs  # type: ignore[method-assign]
    rx, records = receiver(h, workers=1)
    rx.start()
    assert (await rx.receive(payload("a", "b", "c"))).accepted == 3
    await answering.wait()  # "a" is being answered, "b" and "c" wait in the queue
    await rx.stop(drain_seconds=0)
    assert await records.recent() == []
    again = await rx.receive(payload("a", "b", "c"))
    assert (again.accepted, again.duplicate) == (3, 0)


async def test_an_answered_alert_stays_claimed_past_the_answering_hour() -> None:
    h = Harness()
    rx, _ = receiver(h)
    rx.start()
    try:
        assert (await rx.receive(payload("a"))).accepted == 1
        await rx.idle()
        h.clock.advance(ANSWERING_SECONDS + 1)
        assert (await rx.receive(payload("a"))).duplicate == 1  # kept for the dedupe window
    finally:
        await rx.stop()


async def test_an_alert_the_runbooks_cannot_answer_is_counted_as_an_alert_not_an_ask() -> None:
    """ai_no_answer_total is the numerator of the /ask no-answer ratio (AINoAnswerRatioHigh):
    a storm of unknown alerts must not raise it. It is the alert's mode instead."""
    h = Harness()
    h.provider.reply = "I don't have information about that in the runbooks."
    rx, records = receiver(h)
    rx.start()
    try:
        assert (await rx.receive(payload("a"))).accepted == 1
        await rx.idle()
    finally:
        await rx.stop()
    [rec] = await records.recent()
    assert rec.mode == "no_answer"
    assert h.sample("ai_alerts_answered_total", mode="no_answer") == 1
    assert h.sample("ai_no_answer_total") == 0


async def test_the_reply_says_how_many_alerts_of_the_group_were_cut() -> None:
    h = Harness()
    rx, _ = receiver(h)
    body = payload("a").model_dump(mode="json") | {"truncatedAlerts": 40}
    got = await rx.receive(WebhookPayload.model_validate(body))
    assert (got.accepted, got.truncated) == (1, 40)


async def test_resolved_alerts_are_recorded_never_answered() -> None:
    h = Harness()
    rx, records = receiver(h)
    got = await rx.receive(payload("a", status="resolved"))
    assert got.resolved == 1
    [rec] = await records.recent(status="resolved")
    assert rec.answer is None and h.provider.calls == []
