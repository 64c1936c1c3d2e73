"""The Redis client the service builds (app/resilience/redis_dependency.py) parses replies with
hiredis, in C: a paid answer makes nine script calls, and redis-py's own RESP parser in Python
cost 6 % more CPU per paid answer (bench/results/throughput.md). Without the `hiredis` extra in
the service's dependencies, redis-py silently falls back to that parser: this is the check."""

from __future__ import annotations

from redis._parsers.hiredis import _AsyncHiredisParser

from app.resilience.redis_dependency import redis_client


def test_the_service_client_parses_replies_with_hiredis() -> None:
    client = redis_client("redis://127.0.0.1:1/0")  # lazy: nothing connects
    connection = client.connection_pool.make_connection()  # type: ignore[no-untyped-call]
    assert isinstance(connection._parser, _AsyncHiredisParser)
