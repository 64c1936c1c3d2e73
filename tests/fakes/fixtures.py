"""pytest fixtures for the fakes. Import them from a conftest:

from tests.fakes.fixtures import fake_anthropic  # noqa: F401
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.fakes.anthropic_server import FakeAnthropic

# A key that looks like a real one, so tests can check it never leaks into errors or logs.
FAKE_API_KEY = "sk-ant-api03-FAKE-test-key-0123456789abcdefghijklmnopqrstuvwxyz"


@pytest_asyncio.fixture
async def fake_anthropic() -> AsyncIterator[FakeAnthropic]:
    """A running fake Anthropic API on 127.0.0.1 (a free port): `.url`, `.fail(...)`, `.stats`.

    Any non-empty x-api-key is accepted; set `fake_anthropic.api_key = "..."` to make it
    refuse every other key with a 401.
    """
    async with FakeAnthropic() as fake:
        yield fake
