"""CPU per paid call inside our Anthropic provider, against the bare SDK call it wraps.

Both make the same citations request (four runbook sections as documents, the no_answer tool)
to the fake Anthropic server in another process, on uvloop, one call at a time; CPU is this
process's (user + system) per call, median of 5 rounds:
- sdk: `messages.create(...)`, the response parsed into the SDK's Message model;
- provider: `AnthropicProvider.complete` (timeout guard, JSON read, citations, usage, rate-limit
  headers) — what every paid /ask pays for its upstream call.

    .venv/bin/python -m bench.provider_overhead [--calls 300]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from app.llm.anthropic import AnthropicProvider
from app.llm.anthropic_message import request_params
from app.llm.base import CompletionRequest, Document
from app.runbooks.loader import load_runbooks
from tests.fakes.anthropic_control import fake_anthropic_process
from tests.fakes.fixtures import FAKE_API_KEY

REPO = Path(__file__).resolve().parents[1]


def _request() -> CompletionRequest:
    chunks = [c for rb in load_runbooks(REPO / "runbooks") for c in rb.chunks][:4]
    docs = tuple(Document(f"{c.title} / {c.section}", c.text) for c in chunks)
    return CompletionRequest("claude-sonnet-4-6", "Answer from the runbooks.",
                             "pod OOMKilled, what now?", 1024, 30, docs)


async def _cpu_ms(call: Callable[[], Awaitable[object]], calls: int) -> float:
    for _ in range(20):
        await call()
    started = time.process_time()
    for _ in range(calls):
        await call()
    return 1000 * (time.process_time() - started) / calls


async def _run(url: str, calls: int) -> dict[str, float]:
    request = _request()
    provider = AnthropicProvider(FAKE_API_KEY, base_url=url)
    client = provider._client

    async def sdk() -> object:
        return await client.messages.create(model=request.model, max_tokens=request.max_tokens,
                                            timeout=30, **request_params(request))

    async def ours() -> object:
        return await provider.complete(request)

    rounds: dict[str, list[float]] = {"sdk": [], "provider": []}
    try:
        for _ in range(5):  # interleaved, so drift in the machine's load hits both alike
            rounds["sdk"].append(await _cpu_ms(sdk, calls))
            rounds["provider"].append(await _cpu_ms(ours, calls))
    finally:
        await provider.aclose()
    return {name: statistics.median(values) for name, values in rounds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    with fake_anthropic_process() as (url, _):
        result = uvloop.run(_run(url, args.calls))
    print(f"CPU per call, median of 5 rounds of {args.calls}:")
    for name, ms in result.items():
        print(f"  {name:<9} {ms:6.3f} ms")
    print(f"  provider / sdk: {result['provider'] / result['sdk']:.2f}x")


if __name__ == "__main__":
    main()
