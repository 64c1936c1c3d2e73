"""The fake Anthropic server's control API over HTTP (`/_fake/...`, see anthropic_server.py)
and its process entry point (`python -m tests.fakes.anthropic_server`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from typing import TYPE_CHECKING

from aiohttp import web

from tests.fakes import anthropic_citations as citations
from tests.fakes.anthropic_faults import Fault

if TYPE_CHECKING:
    from tests.fakes.anthropic_server import FakeAnthropic


async def control(fake: FakeAnthropic, request: web.Request) -> web.Response:
    action, method = request.match_info["action"], request.method
    try:
        if (action, method) == ("faults", "POST"):
            raw = await request.json()
            fake.faults.add(
                *[Fault.from_json(r) for r in (raw if isinstance(raw, list) else [raw])]
            )
        elif (action, method) == ("faults", "DELETE"):
            fake.clear_faults()
        elif (action, method) == ("reset", "POST"):
            fake.reset()
        elif (action, method) == ("reply", "POST"):
            fake.set_reply((await request.json()).get("text"))
        elif (action, method) == ("citations", "POST"):
            fake.set_citation_mode(str((await request.json()).get("mode")))
        elif (action, method) == ("ratelimits", "POST"):
            for kind, values in (await request.json()).items():
                fake.set_rate_limit(kind.replace("_", "-"), **values)
        elif (action, method) == ("requests", "GET"):
            return web.json_response(fake.requests)
        elif (action, method) == ("billed", "GET"):
            return web.json_response(fake.billed)
        elif (action, method) == ("health", "GET"):
            return web.json_response({"ok": True})
        elif action not in {"faults", "stats"} or method != "GET":
            return web.json_response({"error": f"no {method} /_fake/{action}"}, status=404)
    except (ValueError, TypeError, AttributeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    if action == "faults":
        return web.json_response({"pending": fake.faults.pending()})
    return web.json_response(fake.stats)


async def _serve(args: argparse.Namespace) -> None:
    from tests.fakes.anthropic_server import FakeAnthropic

    fake = FakeAnthropic(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        reply=args.reply,
        min_cacheable_tokens=args.min_cacheable_tokens,
        citation_mode=args.citation_mode,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with fake:
        print(f"fake-anthropic listening on {fake.url}", flush=True)
        started = time.monotonic()
        await stop.wait()
        print(
            f"fake-anthropic stopping after {time.monotonic() - started:.0f}s: "
            f"{json.dumps(fake.stats)}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local fake of the Anthropic Messages API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--api-key", help="refuse any other x-api-key (default: any key)")
    parser.add_argument("--reply", help="canned answer instead of citing the runbooks")
    parser.add_argument("--min-cacheable-tokens", type=int, default=0)
    parser.add_argument("--citation-mode", default="cite", choices=citations.CITATION_MODES)
    asyncio.run(_serve(parser.parse_args(argv)))
