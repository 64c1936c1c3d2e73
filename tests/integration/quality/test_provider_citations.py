"""The provider's citations path through the real SDK and the fake API: documents out, cited
text blocks and the structured decline back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from app.llm.anthropic import AnthropicProvider
from app.llm.base import CompletionRequest, Document
from app.llm.prompt import SYSTEM_PROMPT, build_question
from tests.fakes import fixtures
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.fixtures import FAKE_API_KEY

pytestmark = pytest.mark.integration
fake_anthropic = fixtures.fake_anthropic

DOCS = (
    Document(title="Pod OOMKilled — Mitigation",
             text="Raise the memory limit after checking the working set. Then redeploy.",
             context="runbook pod-oomkilled, section 'Mitigation'"),
    Document(title="Node disk pressure — Diagnosis",
             text="Check the kubelet's image garbage collection thresholds first.",
             context="runbook node-disk-pressure, section 'Diagnosis'"),
)
REQUEST = CompletionRequest(model="claude-sonnet-4-6", system=SYSTEM_PROMPT,
                            prompt=build_question("pod OOMKilled, what now?"), max_tokens=512,
                            timeout_seconds=2.0, documents=DOCS)


@pytest_asyncio.fixture
async def provider(fake_anthropic: FakeAnthropic) -> AsyncIterator[AnthropicProvider]:
    p = AnthropicProvider(FAKE_API_KEY, base_url=fake_anthropic.url)
    yield p
    await p.aclose()


async def test_text_blocks_come_back_with_their_citations(provider: AnthropicProvider) -> None:
    completion = await provider.complete(REQUEST)
    cited = [c for part in completion.parts for c in part.citations]
    assert {c.document_index for c in cited} == {0, 1}
    for c in cited:
        assert c.cited_text and c.cited_text in DOCS[c.document_index].text
    assert completion.text == "".join(p.text for p in completion.parts)
    assert completion.declined is None


async def test_the_decline_is_the_tool_call_whatever_the_words(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.set_citation_mode("decline")
    completion = await provider.complete(REQUEST)
    assert completion.declined  # the tool's reason
    assert completion.stop_reason == "tool_use"
    assert "I don't have information" not in completion.text  # reworded: no phrase to match


async def test_the_documents_are_the_cached_prefix(
    provider: AnthropicProvider, fake_anthropic: FakeAnthropic
) -> None:
    first = await provider.complete(REQUEST)
    second = await provider.complete(
        CompletionRequest(**{**REQUEST.__dict__, "prompt": build_question("and then?")}))
    assert first.usage.cache_write_tokens > 0 and first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens == first.usage.cache_write_tokens
    # the question after the breakpoint is all that bills at the input price
    assert second.usage.input_tokens < first.usage.cache_write_tokens
    sent = fake_anthropic.requests[-1]
    assert sent["system"] == [{"type": "text", "text": SYSTEM_PROMPT}]
