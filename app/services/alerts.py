"""The Alertmanager receiver: a webhook notification in, one answer per firing alert out,
through the SAME ask pipeline as /ask (budget, breakers, caches, ladder, metrics).

`receive` is quick (Alertmanager times a webhook out, 10 s by default): it records resolved
alerts, claims firing ones (a repeat of a (fingerprint, startsAt) already claimed is a
duplicate: not answered, $0) and queues them. A few workers answer the queue in the background:
a paid model while the storm caps allow (alert_gate.py), runbook excerpts ($0) beyond them.
The queue is bounded: a firing alert that finds it full is refused (`dropped`, its claim
released, so Alertmanager's next re-send gets it). `stop` lets the workers finish the queue
for a bounded time, then cancels them and releases the claims of what they did not answer (the
alert being answered and those still queued): a re-send, to another replica or the next pod,
is then answered instead of counted a duplicate for the claim's week.

The team of the key that sent the notification travels with each queued alert: its paid
answer is charged to that team's windows (and the global ones), as an /ask from that key.

After each answer, the optional `on_answer(record)` hook runs (outbound delivery plugs in
there); its failure is logged and never loses the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.clock import Clock
from app.config import Policy
from app.llm.offline import OFFLINE_MODEL
from app.metrics import Metrics
from app.runbooks.search import RunbookIndex
from app.services.alert_gate import AlertGate
from app.services.alert_payload import AlertRecord, AlertsAccepted, WebhookAlert, WebhookPayload
from app.services.alert_question import build_question, preferred_runbook
from app.services.alert_records import AlertRecords
from app.services.answer import AnswerService

log = logging.getLogger("app.alerts")
OnAnswer = Callable[[AlertRecord], Awaitable[None]]
QUEUE_MAX = 2000
WORKERS = 2
DRAIN_SECONDS = 20.0


@dataclass(frozen=True)
class _Job:
    alert: WebhookAlert
    group_key: str
    team: str | None = None  # the sender's team: pays for the answer


def _stamp(alert: WebhookAlert) -> tuple[str, str | None]:
    starts = alert.startsAt.isoformat()
    ends = alert.endsAt.isoformat() if alert.endsAt and alert.endsAt.year > 1 else None
    return starts, ends


class AlertReceiver:
    def __init__(self, *, answers: AnswerService, gate: AlertGate, records: AlertRecords,
                 metrics: Metrics, clock: Clock, policy: Callable[[], Policy],
                 index: Callable[[], RunbookIndex], on_answer: OnAnswer | None = None,
                 queue_max: int = QUEUE_MAX, workers: int = WORKERS) -> None:
        self._answers = answers
        self._gate = gate
        self._records = records
        self._metrics = metrics
        self._clock = clock
        self._policy = policy
        self._index = index
        self.on_answer = on_answer
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=queue_max)
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"AlertWorker{i}")
                       for i in range(self._workers)]

    async def stop(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_seconds):
                    await self._queue.join()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        left = 0
        while not self._queue.empty():
            job = self._queue.get_nowait()
            self._queue.task_done()
            await self._gate.release(job.alert.fingerprint, _stamp(job.alert)[0])
            left += 1
        if left:
            log.warning("shutting down with firing alerts unanswered: their claims are released "
                        "for Alertmanager's re-send", extra={"fields": {"alerts": left}})

    async def idle(self) -> None:
        """Until every queued alert is answered (tests, shutdown)."""
        await self._queue.join()

    async def receive(self, payload: WebhookPayload, *, team: str | None = None
                      ) -> AlertsAccepted:
        counts = {"accepted": 0, "duplicate": 0, "resolved": 0, "dropped": 0}
        for alert in payload.alerts:
            self._metrics.alerts_received.labels(status=alert.status).inc()
            starts = _stamp(alert)[0]
            if alert.status == "resolved":
                counts["resolved"] += 1
                await self._records.add(self._record(alert, payload.groupKey, status="resolved"))
                continue
            if not await self._gate.claim(alert.fingerprint, starts):
                counts["duplicate"] += 1
                self._metrics.alerts_answered.labels(mode="duplicate").inc()
                continue
            try:
                self._queue.put_nowait(_Job(alert, payload.groupKey, team))
                counts["accepted"] += 1
            except asyncio.QueueFull:
                counts["dropped"] += 1
                self._metrics.alert_errors.inc()
                await self._gate.release(alert.fingerprint, starts)
        if counts["dropped"]:
            log.warning("alert queue full: firing alerts refused until it drains",
                        extra={"fields": {"dropped": counts["dropped"]}})
        if payload.truncatedAlerts:
            log.warning("alert group truncated: only the first alerts are answered",
                        extra={"fields": {"truncated": payload.truncatedAlerts,
                                          "received": len(payload.alerts)}})
        return AlertsAccepted(**counts, truncated=payload.truncatedAlerts)

    def _record(self, alert: WebhookAlert, group_key: str, **fields: object) -> AlertRecord:
        starts, ends = _stamp(alert)
        return AlertRecord.model_validate({
            "fingerprint": alert.fingerprint, "alertname": alert.labels.alertname,
            "labels": alert.label_map(), "annotations": alert.annotations, "startsAt": starts,
            "endsAt": ends, "group_key": group_key, **fields})

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._answer(job)
            except Exception:
                log.exception("alert worker: unexpected error")
            finally:
                self._queue.task_done()

    async def _answer(self, job: _Job) -> None:
        alert = job.alert
        index = self._index()
        policy = self._policy()
        runbook = preferred_runbook(alert, index)
        question = build_question(alert, runbook, index, policy.limits.max_question_chars)
        cap = await self._gate.paid_slot(job.group_key)
        if cap is not None:
            self._metrics.alerts_capped.labels(cap=cap).inc()
        try:
            answer = await self._answers.ask(question, OFFLINE_MODEL if cap else None,
                                             team=job.team)
        except asyncio.CancelledError:  # shut down mid-answer: a re-send answers it elsewhere
            await self._gate.release(alert.fingerprint, _stamp(alert)[0])
            raise
        except Exception as exc:
            self._metrics.alert_errors.inc()
            await self._gate.release(alert.fingerprint, _stamp(alert)[0])
            log.warning("alert not answered; a re-send will try again", extra={"fields": {
                "alertname": alert.labels.alertname, "error": type(exc).__name__}})
            await self._records.add(self._record(
                alert, job.group_key, status="firing", runbook=runbook, mode="error",
                answer=None, answered_at=self._clock.now().isoformat()))
            return
        await self._gate.answered(alert.fingerprint, _stamp(alert)[0])
        if answer.no_answer:
            mode = "no_answer"
        elif answer.cached:
            mode = "cached"
        elif answer.model == OFFLINE_MODEL:
            mode = "excerpts"
        else:
            mode = "paid"
        self._metrics.alerts_answered.labels(mode=mode).inc()
        record = self._record(
            alert, job.group_key, status="firing", runbook=runbook, answer=answer.answer,
            sources=answer.sources, model=answer.model,
            degraded=answer.degraded.mode if answer.degraded else ("capped" if cap else None),
            cost_usd=round(answer.cost_usd, 9), mode=mode,
            answered_at=self._clock.now().isoformat())
        await self._records.add(record)
        if self.on_answer is not None:
            try:
                await self.on_answer(record)
            except Exception:
                log.exception("alert on_answer hook failed; the record is kept")
