"""CPU per cached POST /ask through the app's own ASGI stack, in process (issue 14).

The throughput bench (bench/throughput.py) measures whole servers under wrk, where two shared
cores make every number move; this isolates what the app costs per answered request: the real
app (create_app, its lifespan, middleware, JSON logs to a file), driven with raw ASGI calls (no
server, no client library), one fixed question answered from the exact cache. The fake
Anthropic API (another process) answers the priming call. `time.process_time()` over N
requests, repeated; the median and the best are printed. A/B: run it from two checkouts with
PYTHONPATH pointing at each.

    .venv/bin/python -m bench.cached_ask [--requests 2000] [--repeats 5] [--redis]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from app.config import Settings
from app.main import create_app
from tests.fakes.anthropic_control import fake_anthropic_process
from tests.fakes.fixtures import FAKE_API_KEY
from tests.fakes.redis_server import RedisServer

BODY = json.dumps({"question": "pod OOMKilled, what now?"}).encode()
POLICY = {"budgets": {"per_request_usd": 0.5, "hourly_usd": 100_000, "daily_usd": 100_000,
                      "monthly_usd": 1_000_000}, "llm": {"max_tokens": 1024}}


async def ask(app: Any) -> list[dict[str, Any]]:
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
             "http_version": "1.1", "server": ("127.0.0.1", 8000),
             "client": ("127.0.0.1", 50000), "scheme": "http", "root_path": "",
             "method": "POST", "path": "/ask", "raw_path": b"/ask", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(BODY)).encode())], "state": {}}
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await asyncio.Event().wait()  # never: the response is complete before
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def measure(requests: int, repeats: int, redis: bool) -> list[float]:
    with (tempfile.TemporaryDirectory(prefix="cached-ask-") as tmp,
          fake_anthropic_process() as (fake_url, _), contextlib.ExitStack() as stack):
        redis_url = None
        if redis:
            server = RedisServer.start()
            stack.callback(server.stop)
            redis_url = server.url
        policy = Path(tmp) / "policy.yaml"
        policy.write_text(yaml.safe_dump(POLICY))
        log = stack.enter_context((Path(tmp) / "service.log").open("w"))
        stack.enter_context(contextlib.redirect_stdout(log))  # the JSON lines, as a pod's
        app = create_app(Settings(anthropic_api_key=FAKE_API_KEY, anthropic_base_url=fake_url,
                                  policy_file=policy, ledger_path=Path(tmp) / "l.sqlite3",
                                  redis_url=redis_url, log_format="json"),
                         registry=CollectorRegistry())
        async with app.router.lifespan_context(app):
            for _ in range(3):
                sent = await ask(app)
            if not json.loads(sent[-1]["body"])["cached"]:
                raise SystemExit(f"not answered from the cache: {sent}")
            per_request = []
            for _ in range(repeats):
                started = time.process_time()
                for _ in range(requests):
                    await ask(app)
                per_request.append((time.process_time() - started) / requests)
            return per_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--redis", action="store_true", help="answer cache and ledger in Redis")
    args = parser.parse_args()
    runs = asyncio.run(measure(args.requests, args.repeats, args.redis))
    us = [r * 1e6 for r in runs]
    print(f"cached /ask in process ({'Redis' if args.redis else 'SQLite'}): "
          f"median {statistics.median(us):.0f} us CPU/request, best {min(us):.0f} "
          f"({args.repeats} x {args.requests})", file=sys.stderr)


if __name__ == "__main__":
    main()
