"""The plain-text form says when an answer is not backed by the runbooks."""

from __future__ import annotations

from app.api.plain_text import render_answer
from app.schemas import AskResponse, TokenUsage


def _response(grounded: bool | None, share: float | None) -> AskResponse:
    return AskResponse(answer="Restart it.", model="claude-sonnet-4-6", cached=False,
                       degraded=None, sources=["pod-oomkilled"], latency_s=0.1, tokens=10,
                       usage=TokenUsage(input=5, output=5, cache_read=0, cache_write=0),
                       cost_usd=0.001, grounded=grounded, grounded_share=share,
                       request_id="r1")


def test_an_ungrounded_answer_is_flagged_on_screen() -> None:
    assert "grounded: NO (12% cited)" in render_answer(_response(False, 0.12))


def test_a_grounded_or_ungraded_answer_carries_no_flag() -> None:
    assert "grounded" not in render_answer(_response(True, 0.9))
    assert "grounded" not in render_answer(_response(None, None))
