"""The fake Anthropic server's own bill (`GET /_fake/billed`), which the e2e money proof prices
independently of the service: one entry per reply produced, with the usage the SDK received
and the caller's address; a refused call (an error status) is not billed."""

from __future__ import annotations

import anthropic
import pytest

from tests.fakes.anthropic_control import fake_anthropic_process
from tests.fakes.fixtures import FAKE_API_KEY

pytestmark = pytest.mark.integration


def test_the_bill_holds_each_reply_with_its_usage_and_caller() -> None:
    with fake_anthropic_process() as (url, fake):
        client = anthropic.Anthropic(api_key=FAKE_API_KEY, base_url=url, max_retries=0)
        reply = client.messages.create(model="claude-sonnet-4-6", max_tokens=64,
                                       messages=[{"role": "user", "content": "disk full?"}])
        fake.fail(529)
        with pytest.raises(anthropic.APIStatusError):
            client.messages.create(model="claude-sonnet-4-6", max_tokens=64,
                                   messages=[{"role": "user", "content": "disk full?"}])
        billed = fake.billed()
    assert len(billed) == 1, billed
    assert billed[0]["model"] == "claude-sonnet-4-6"
    assert billed[0]["usage"]["output_tokens"] == reply.usage.output_tokens > 0
    assert billed[0]["usage"]["input_tokens"] == reply.usage.input_tokens
    assert billed[0]["remote"] == "127.0.0.1"
