"""What citations cost: input tokens of the cited request (documents + the no_answer tool)
against the plain prompt it replaced (runbooks inline in the system prompt), per question.

Why: issue 18 moves the runbook sections into citable documents and offers a tool to decline.
Both change the input the API bills; this bench counts it for our evaluation questions over the
bundled runbooks, and checks the ledger's reservation estimate still covers the real count.

The counts come from `messages.count_tokens` through the real SDK: by default against the
local fake API (about 4 characters per token, so it measures what WE add: document titles and
context, the tool definition, the delimiters); with `--base-url https://api.anthropic.com` and
ANTHROPIC_API_KEY set, against the real API (count_tokens is free), which adds what Anthropic
adds on its side (the tool-use system prompt, document framing). The output side is not
measured here: Anthropic does not bill a citation's quoted text as output tokens.

    .venv/bin/python -m bench.citations_cost [--base-url URL] [--model M]
        [--out bench/results/citations.md]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

import anthropic
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import BUNDLED_RUNBOOKS, Policy
from app.llm.anthropic_message import request_params
from app.llm.base import CompletionRequest
from app.llm.prompt import SYSTEM_PROMPT, build_documents, build_question
from app.runbooks.loader import load_runbooks
from app.runbooks.results import SearchResult
from app.runbooks.search import RunbookIndex
from app.services.paid_call import estimate_request_tokens
from tests.fakes.anthropic_server import FakeAnthropic

QUESTIONS = Path(__file__).resolve().parent.parent / "eval" / "questions" / "ours.yaml"
PLAIN_INSTRUCTIONS = """You are an SRE assistant. Answer the operator's question using ONLY the
runbook excerpts below. Be concrete: list the commands to run and what to look for, safest
mitigation first. Cite the runbooks you used as [runbook: <id>]. If the excerpts do not answer
the question, reply exactly: "I don't have information about that in the runbooks."
"""


def plain_system(result: SearchResult) -> str:
    """The prompt before issue 18: the sections inline in the system prompt, tagged."""
    parts = [PLAIN_INSTRUCTIONS, "<runbooks>"]
    for hit in result.hits:
        c = hit.chunk
        parts += [f'<runbook id="{c.runbook_id}" title="{c.title}" section="{c.section}">',
                  c.text, "</runbook>"]
    parts.append("</runbooks>")
    return "\n".join(parts)


async def count(client: anthropic.AsyncAnthropic, model: str, params: dict[str, Any]) -> int:
    reply = await client.messages.count_tokens(model=model, **params)
    return int(reply.input_tokens)


async def measure(client: anthropic.AsyncAnthropic, model: str) -> list[dict[str, float]]:
    index = RunbookIndex(load_runbooks(BUNDLED_RUNBOOKS))
    limit = Policy().llm.context_chunks
    rows: list[dict[str, float]] = []
    for item in yaml.safe_load(QUESTIONS.read_text())["questions"]:
        if item.get("expect") is None:
            continue
        result = index.search(item["q"], limit)
        if not result.answerable:
            continue
        system = plain_system(result)
        plain = await count(client, model, {
            "system": system, "messages": [{"role": "user", "content": item["q"]}]})
        request = CompletionRequest(model=model, system=SYSTEM_PROMPT,
                                    prompt=build_question(item["q"]), max_tokens=1,
                                    timeout_seconds=30, documents=build_documents(result))
        cited = await count(client, model, request_params(request))
        rows.append({"plain": plain, "cited": cited,
                     "estimate": estimate_request_tokens(SYSTEM_PROMPT, request.prompt,
                                                         request.documents)})
    return rows


def report(rows: list[dict[str, float]], source: str, model: str) -> str:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    price = Policy().models[model].input  # USD per million input tokens
    added = [r["cited"] - r["plain"] for r in rows]
    cover = min(r["estimate"] / r["cited"] for r in rows)
    lines = [
        "# Citations: input tokens against the plain prompt", "",
        f"Counted by `messages.count_tokens` on {source}, model `{model}`, "
        f"{len(rows)} answerable questions of eval/questions/ours.yaml over the bundled "
        f"runbooks ({platform.python_version()}). Reproduce: `make bench-citations`.", "",
        "| | median input tokens | mean | USD per 1,000 questions (uncached input) |",
        "|---|---|---|---|",
    ]
    for key, name in (("plain", "plain prompt (runbooks inline)"),
                      ("cited", "documents + citations + no_answer tool")):
        mean = statistics.fmean(r[key] for r in rows)
        lines.append(f"| {name} | {med(key):.0f} | {mean:.0f} | "
                     f"{mean * price / 1e6 * 1000:.3f} |")
    lines += [
        "", f"- Added per question: median {statistics.median(added):.0f} tokens, "
        f"{statistics.median(r['cited'] / r['plain'] for r in rows):.3f}x the plain prompt.",
        f"- The ledger's reservation estimate is at least {cover:.2f}x the counted input on "
        "every question (it must stay >= 1: the worst case is reserved before the call).",
        "- Against the fake, the tool-use system prompt Anthropic adds (documented as 346 "
        "tokens with tool_choice auto) is not in the count: add it for the real bill, or run "
        "with `--base-url` against the real API. The estimate already reserves 500 for it.",
        "- Repeated questions over the same sections bill the documents at the cache-read price "
        "(the last document is the prompt-cache breakpoint); the question after it is the only "
        "uncached input.",
    ]
    return "\n".join(lines) + "\n"


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="a real API (needs ANTHROPIC_API_KEY); default: "
                        "the local fake")
    parser.add_argument("--model", default=Policy().routing.default_model)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.base_url:
        key = os.environ.get("ANTHROPIC_API_KEY", "")
        client = anthropic.AsyncAnthropic(api_key=key, base_url=args.base_url, max_retries=0)
        rows = await measure(client, args.model)
        text = report(rows, args.base_url, args.model)
    else:
        async with FakeAnthropic() as fake:
            client = anthropic.AsyncAnthropic(api_key="bench", base_url=fake.url, max_retries=0)
            rows = await measure(client, args.model)
            text = report(rows, "the local fake API (4 characters per token)", args.model)
    await client.close()
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
