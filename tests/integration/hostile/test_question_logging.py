"""The question in the logs (issue 17): a hash and a length in the request's summary line; the
text only while DEBUG logging is on."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pytest

from app.logs import JsonFormatter
from tests.integration.hostile.conftest import HostileFactory

pytestmark = pytest.mark.integration

# Something a person might paste: a customer's host and a token.
QUESTION = "pod OOMKilled on acme-prod-db-7 after deploy, token ghp_ZZ9hostilePaste42"
DIGEST = hashlib.sha256(QUESTION.encode()).hexdigest()[:16]


def _summary(caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    lines = [r for r in caplog.records if r.name == "app.access" and r.getMessage() == "request"
             and r.__dict__.get("fields", {}).get("endpoint") == "/ask"]
    assert lines, "no summary line for /ask"
    fields: dict[str, Any] = lines[-1].__dict__["fields"]
    return fields


async def test_the_question_is_logged_as_a_hash_and_a_length(
    hostile_service: HostileFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    async with hostile_service(log_level="INFO") as svc:
        refused = await svc.client.post("/ask", json={"question": QUESTION})  # no key
        assert refused.status_code == 401
        assert (await svc.ask(QUESTION)).status_code == 200
    fields = _summary(caplog)
    assert fields["question_sha256"] == DIGEST
    assert fields["question_chars"] == len(QUESTION)
    assert "question" not in fields
    formatter = JsonFormatter()
    for record in caplog.records:
        line = formatter.format(record)
        assert "acme-prod-db-7" not in line and "ghp_ZZ9" not in line, line


async def test_debug_logging_adds_the_text(
    hostile_service: HostileFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with hostile_service(log_level="DEBUG") as svc:
        assert (await svc.ask(QUESTION)).status_code == 200
    fields = _summary(caplog)
    assert fields["question"] == QUESTION
    assert fields["question_sha256"] == DIGEST
