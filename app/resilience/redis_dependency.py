"""Redis as a guarded dependency: how long one operation may wait, what is retried, and the
breaker the answer cache and the ledger share (one server, one breaker).

The numbers, and why (README "Redis outages" has the resulting costs):

- `SOCKET_TIMEOUT_SECONDS = 0.25`: a Redis operation takes well under a millisecond on a pod
  network; a quarter of a second means the server is hung (SIGSTOP, a blocking script, a
  swapping host), not busy. redis-py's default is 5 s with 10 retries.
- `CONNECT_TIMEOUT_SECONDS = 0.25`: a blackholed address (node gone, NetworkPolicy drop) costs
  no more than a hung server.
- Retry: once, at once, and only on a connection error (a pooled connection the server
  closed, a refused connect): a dropped connection heals on the spot, a refused one costs
  microseconds. A TIMEOUT is never retried: that would double the cost of a hung server.
- Breaker (`REDIS_BREAKER_POLICY`): opens when 3 of the last 6 operations failed (50 % of a
  count window of 6, at least 3 calls), so 3 failures in a row open it whatever came before.
  A hung Redis therefore costs the request that detects it at most 3 x 0.25 s = 0.75 s (one
  /ask makes up to 6 operations; concurrent requests fail in parallel, not in sequence), and
  every later operation is refused in microseconds. A dead server (connection refused) is
  detected the same way and costs microseconds even before that. A lone timeout in a healthy
  stream (1 of 6) does not open it.
  After 5 s OPEN one trial operation goes through (whichever request comes first, or the
  readiness probe): success closes the breaker, a failure opens it for another 5 s. So a hung
  Redis costs one request 0.25 s every 5 s, and recovery is at most ~5 s after Redis is back.
- Slow calls never open this breaker: an operation slower than the socket timeout is already
  a failure, and a merely slow one is more often this replica's busy event loop than Redis.

Failures that count: connection errors (refused, reset, BusyLoading, auth) and timeouts, i.e.
the server is unreachable or unresponsive. A ResponseError (a script bug, OOM, READONLY) comes
from a live server and is left to the caller.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.clock import Clock
from app.config import BreakerPolicy
from app.metrics import Metrics
from app.resilience.dependency import DependencyGuard

DEPENDENCY = "redis"
SOCKET_TIMEOUT_SECONDS = 0.25
CONNECT_TIMEOUT_SECONDS = 0.25
REDIS_FAILURES: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError,
                                                   OSError)
REDIS_BREAKER_POLICY = BreakerPolicy(
    window_type="count",
    window_size=6,
    minimum_calls=3,
    failure_rate_threshold=50.0,
    slow_call_duration_seconds=3600.0,  # see the module docstring: slow calls do not count
    slow_call_rate_threshold=100.0,
    wait_in_open_seconds=5.0,
    permitted_in_half_open=1,
)


def redis_retry() -> Retry:
    """One immediate retry, on connection errors only (never on a timeout)."""
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def redis_client(
    url: str,
    *,
    decode_responses: bool = False,
    socket_timeout_seconds: float = SOCKET_TIMEOUT_SECONDS,
    connect_timeout_seconds: float = CONNECT_TIMEOUT_SECONDS,
) -> Redis:
    """A client with the bounded timeouts above; connects lazily."""
    return Redis.from_url(
        url,
        socket_timeout=socket_timeout_seconds,
        socket_connect_timeout=connect_timeout_seconds,
        retry=redis_retry(),
        decode_responses=decode_responses,
    )


def redis_guard(
    clock: Clock, metrics: Metrics | None = None, policy: BreakerPolicy = REDIS_BREAKER_POLICY
) -> DependencyGuard:
    """The breaker for one Redis server: build ONE per server and give it to every client."""
    return DependencyGuard(DEPENDENCY, policy, clock, REDIS_FAILURES, metrics)
