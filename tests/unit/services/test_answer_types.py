"""What one replica publishes to the others waiting for the same question keeps the evidence."""

from __future__ import annotations

import pytest

from app.services.answer_types import (
    Answer,
    Citation,
    Degraded,
    decode_coalesced,
    encode_answer,
)


def test_a_coalesced_answer_carries_its_citations_and_grounding() -> None:
    answer = Answer("Raise the limit.", "claude-sonnet-4-6", ["pod-oomkilled"], cost_usd=0.01,
                    degraded=Degraded("fallback_model", "circuit_open", "x"),
                    citations=(Citation("pod-oomkilled", "Mitigation", "Raise the memory limit.",
                                        "Raise the limit."),),
                    grounded_share=0.8125, grounded=True)
    copy, paid = decode_coalesced(encode_answer(answer))
    assert paid == 0.01 and copy.cached is True
    assert copy.citations == answer.citations
    assert (copy.grounded_share, copy.grounded) == (0.8125, True)


def test_an_ungraded_answer_stays_ungraded() -> None:
    copy, _ = decode_coalesced(encode_answer(Answer("x", "offline", [], no_answer=True)))
    assert copy.grounded is None and copy.grounded_share is None and copy.citations == ()


def test_a_malformed_citation_is_unreadable_not_a_crash() -> None:
    payload = encode_answer(Answer("x", "m", [])).replace(b'"citations": []',
                                                          b'"citations": [["only", "two"]]')
    with pytest.raises(ValueError):
        decode_coalesced(payload)
