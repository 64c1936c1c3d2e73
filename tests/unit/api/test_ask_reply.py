"""/ask builds its reply as a dict and encodes it with pydantic's serializer (issue 14): it must
be, byte for byte, what the AskResponse model writes for the same answer, in every shape an
answer takes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry
from pydantic_core import to_json

from app.api.routes.ask import _reply
from app.llm.base import Usage
from app.metrics import Metrics
from app.runtime import Runtime
from app.schemas import AskResponse
from app.services.answer_types import Answer, Citation, Degraded

CITED = (Citation("pod-oomkilled", "Steps", "kubectl describe pod", "Describe the pod."),
         Citation("node-notready", "Checks", "crème «brûlée» \u2028 \"quoted\"", "Ünïcode."))
ANSWERS = {
    "paid": Answer("Describe the pod.", "claude-sonnet-4-6", ["pod-oomkilled"],
                   usage=Usage(1200, 340, 4000, 25, 0), cost_usd=0.0123456789123,
                   citations=CITED, grounded_share=0.87654321, grounded=True),
    "cached": Answer("Describe the pod.", "claude-sonnet-4-6", ["pod-oomkilled", "x"],
                     cached=True, citations=CITED, grounded_share=1.0, grounded=True),
    "stale": Answer("Old.", "claude-sonnet-4-6", [], cached=True,
                    degraded=Degraded("stale_cache", "", "")),
    "degraded": Answer("Excerpts.", "offline", ["pod-oomkilled"],
                       degraded=Degraded("offline", "circuit_open", "model m is open"),
                       cost_usd=3e-05, cost_estimated=True, grounded_share=0.5,
                       grounded=False),
    "no_answer": Answer("I don't have information about that.", "offline", [],
                        no_answer=True),
    "integer cost": Answer("x", "m", [], cost_usd=cast(float, 0), truncated=True,
                           grounded_share=cast(float, 1), grounded=True),
}


@pytest.mark.parametrize("name", list(ANSWERS))
def test_the_reply_is_the_models_own_json(name: str) -> None:
    metrics = Metrics(CollectorRegistry())
    runtime = cast(Runtime, SimpleNamespace(metrics=metrics))
    reply: dict[str, Any] = _reply(ANSWERS[name], runtime, 0.0, "rid-1")
    model = AskResponse.model_validate(reply)
    assert list(reply) == list(AskResponse.model_fields)
    assert to_json(reply) == model.model_dump_json().encode()
    assert reply == model.model_dump(mode="json")  # the final event of a stream
    assert metrics.registry.get_sample_value(
        "ai_answers_total", {"model": ANSWERS[name].model}) == 1
