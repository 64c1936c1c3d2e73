"""Redis as a guarded dependency: how long one operation may wait, what is retried, and the
breaker the answer cache and the ledger share (one server, one breaker).

The numbers, and why (README "Redis outages" and bench/results/redis.md have the costs):

- `SOCKET_TIMEOUT_SECONDS = 0.5` (answer cache): a Redis operation takes well under a
  millisecond on a pod network, so half a second means the server is hung (SIGSTOP, a blocking
  script, a swapping host). A timed-out lookup is a miss served from the local tier, so the
  cache never retries a timeout: the first lookup that meets a hung Redis costs 0.5 s, and it
  is the first operation of every /ask. redis-py's default is 5 s.
- `LEDGER_SOCKET_TIMEOUT_SECONDS = 1.0`, and the ledger retries a timeout once: as before
  this change, on purpose. A ledger operation that fails refuses a paid call (reserve) or
  loses the record of one (settle), and under a burst of concurrent asks on a loaded node
  healthy operations were measured taking 0.57-0.65 s, and longer than 0.5 s + 0.5 s under
  the full test suite's load (the fleet test then saw reserves lost). Every ledger script is
  idempotent, so the retry is safe. The breaker, not a shorter timeout, is what keeps a hung
  Redis from costing every request.
- `CONNECT_TIMEOUT_SECONDS = 0.5`: a blackholed address (node gone, NetworkPolicy drop) costs
  no more than a hung server.
- Connection errors (a pooled connection the server closed, a refused connect) are retried
  once, at once, by both: healed on the spot, or microseconds.
- Breaker (`REDIS_BREAKER_POLICY`): opens when 3 of the last 6 operations failed (50 % of a
  count window of 6, at least 3 calls), so 3 failures in a row open it whatever came before.
  A lone client's fresh /ask meets a hung Redis as lookup (0.5 s), reserve (2 x 1 s), lookup
  (0.5 s): that one request pays 3 s, and every later operation is refused in microseconds.
  A dead server (connection refused) is detected the same way in microseconds. Failures of
  operations that were in flight together count once (dependency.py): one stall of this
  process is one failure, so a burst does not open the breaker on a healthy Redis.
  After 5 s OPEN one trial operation goes through (whichever request comes first, or the
  readiness probe, or a scrape): success closes the breaker, a failure opens it for another
  5 s. So a hung Redis costs one request one timeout every 5 s, and recovery comes at most
  ~5 s after Redis is back.
- Slow calls never open this breaker: an operation slower than the socket timeout is already
  a failure, and a merely slow one is more often this replica's busy event loop than Redis.
- These are constants, not policy: they describe the network and Redis, not the budget.

Failures that count: connection errors (refused, reset, BusyLoading, auth) and timeouts, i.e.
the server is unreachable or unresponsive. A ResponseError (a script bug, OOM, READONLY) comes
from a live server and is left to the caller.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.clock import Clock
from app.config import BreakerPolicy
from app.metrics import Metrics
from app.resilience.dependency import DependencyGuard
from app.resilience.redis_batching import BatchingRedis
from app.resilience.redis_connection import timeout_write_class

DEPENDENCY = "redis"
SOCKET_TIMEOUT_SECONDS = 0.5
LEDGER_SOCKET_TIMEOUT_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 0.5
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


def redis_retry(*, on_timeout: bool = False) -> Retry:
    """One immediate retry on a connection error; on a timeout too only when asked."""
    errors: tuple[type[RedisError], ...] = (RedisConnectionError,)
    if on_timeout:
        errors += (RedisTimeoutError,)
    return Retry(NoBackoff(), 1, supported_errors=errors)


def redis_client(
    url: str,
    *,
    decode_responses: bool = False,
    socket_timeout_seconds: float = SOCKET_TIMEOUT_SECONDS,
    connect_timeout_seconds: float = CONNECT_TIMEOUT_SECONDS,
    retry_timeouts: bool = False,
) -> Redis:
    """A client with the bounded timeouts above; connects lazily. `retry_timeouts` for the
    ledger only (see the module docstring). Commands issued in one loop turn go out as one
    pipeline (redis_batching.py); its connections bound writes without a task per command
    (redis_connection.py)."""
    client = BatchingRedis.from_url(
        url,
        socket_timeout=socket_timeout_seconds,
        socket_connect_timeout=connect_timeout_seconds,
        retry=redis_retry(on_timeout=retry_timeouts),
        decode_responses=decode_responses,
    )
    pool = client.connection_pool
    pool.connection_class = timeout_write_class(pool.connection_class)
    return client


def redis_guard(
    clock: Clock, metrics: Metrics | None = None, policy: BreakerPolicy = REDIS_BREAKER_POLICY
) -> DependencyGuard:
    """The breaker for one Redis server: build ONE per server and give it to every client."""
    return DependencyGuard(DEPENDENCY, policy, clock, REDIS_FAILURES, metrics)


def redact_redis_url(url: str) -> str:
    """SRE_AI_REDIS_URL fit for a log line: the password (in the userinfo or the query) is
    replaced by `***`; scheme, user, host, port and database stay, so a typo shows."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hostport = netloc.rpartition("@")
            netloc = f"{userinfo.partition(':')[0]}:***@{hostport}"
        query = "***" if parts.query else ""
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:  # not a URL at all (e.g. a bad port): show nothing that may be secret
        return "<unparseable URL>"
