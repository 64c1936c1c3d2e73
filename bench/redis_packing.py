"""Client CPU spent packing the Redis commands of one paid /ask: redis-py's Python packer
against ours in C (app/resilience/redis_packing.py), on the very arguments the service sends.

The service runs in process (the real app, SQLite file for nothing: every store is on Redis)
against a throwaway redis-server and the fake Anthropic API; 100 paid questions are asked and
every command the Redis connections pack is recorded; then both packers pack the recorded
commands, 20 times over, 7 rounds (median of process CPU time).

    .venv/bin/python -m bench.redis_packing
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis.asyncio.connection import Connection

from app.config import Settings
from app.main import create_app
from app.resilience import redis_packing
from app.resilience.redis_dependency import redis_client
from bench.throughput_servers import POLICY
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.fixtures import FAKE_API_KEY
from tests.fakes.redis_server import RedisServer

ANSWERS = 100


async def record(redis_url: str) -> list[tuple[Any, ...]]:
    """The arguments of every command packed while ANSWERS distinct questions are paid for."""
    seen: list[tuple[Any, ...]] = []
    original = redis_packing.CPacking.pack_command

    def recording(self: Any, *args: Any) -> list[bytes]:
        seen.append(args)
        return original(self, *args)

    redis_packing.CPacking.pack_command = recording  # type: ignore[method-assign]
    try:
        async with FakeAnthropic() as fake:
            with tempfile.TemporaryDirectory() as tmp:
                policy = Path(tmp) / "policy.yaml"
                policy.write_text(yaml.safe_dump(POLICY))
                settings = Settings(anthropic_api_key=FAKE_API_KEY, anthropic_base_url=fake.url,
                                    policy_file=policy, ledger_path=Path(tmp) / "l.sqlite3",
                                    redis_url=redis_url, watch_interval_seconds=60.0)
                app = create_app(settings)
                transport = httpx.ASGITransport(app=app)
                async with (app.router.lifespan_context(app),
                            httpx.AsyncClient(transport=transport, base_url="http://svc") as c):
                    await c.post("/ask", json={"question": "pod OOMKilled, what now? warm"})
                    seen.clear()
                    calls = fake.stats["total"]
                    for i in range(ANSWERS):
                        reply = await c.post("/ask", json={"question": f"pod OOMKilled? {i}"})
                        if reply.status_code != 200 or reply.json()["cached"]:
                            raise SystemExit(f"not a paid answer: {reply.text[:200]}")
                    if fake.stats["total"] - calls != ANSWERS:
                        raise SystemExit("not every question reached the upstream")
    finally:
        redis_packing.CPacking.pack_command = original  # type: ignore[method-assign]
    return list(seen)


def cpu_per_answer_us(connection: Any, commands: list[tuple[Any, ...]]) -> float:
    rounds = []
    for _ in range(7):
        started = time.process_time()
        for _ in range(20):
            for args in commands:
                connection.pack_command(*args)
        rounds.append((time.process_time() - started) / 20 / ANSWERS * 1e6)
    return statistics.median(rounds)


def main() -> None:
    server = RedisServer.start()
    try:
        commands = asyncio.run(record(server.url))
    finally:
        server.stop()
    shapes = Counter(f"{args[0]} with {len(args) - 1} arguments" for args in commands)
    ours = redis_client("redis://127.0.0.1:1/0").connection_pool.make_connection()  # type: ignore[no-untyped-call]
    python = cpu_per_answer_us(Connection(), commands)
    c = cpu_per_answer_us(ours, commands)
    print(f"{len(commands) / ANSWERS:.1f} commands packed per paid answer: "
          + ", ".join(f"{n / ANSWERS:.1f} x {shape}" for shape, n in shapes.most_common()))
    print(f"client CPU packing them, per paid answer: redis-py {python:.1f} us, "
          f"in C {c:.1f} us ({python - c:.1f} us saved)")


if __name__ == "__main__":
    main()
