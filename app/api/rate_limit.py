"""The rate limit gate of the routes that can spend (/ask, POST /alerts): a dependency that runs
after the API-key check and before any work, and the `X-RateLimit-*` headers.

Headers (on every response of a gated route whose caller has a limit, 2xx and errors alike; a
response streamed as events carries them too):

    X-RateLimit-Limit / -Remaining / -Reset                     requests per minute
    X-RateLimit-Limit-Tokens / -Remaining-Tokens / -Reset-Tokens tokens per minute

`-Remaining` is what the caller may still send now (after this request), `-Reset` the seconds
until its bucket is full again (delta seconds, rounded up, like `Retry-After`; not a Unix
time). A limit the caller does not have is left out. A refusal is 429 `rate_limited` with
`Retry-After` (whole seconds, rounded up) and the detail naming the limit; nothing was done
for it, so it cost the upstream and the budget nothing. The dependency hands the route a
ticket to charge the tokens the answer used (limiter.py, gcra.py).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.api.deps import authenticate, runtime_of
from app.api.middleware import RATE_LIMIT_HEADERS
from app.callers import Caller
from app.config import ANONYMOUS_CALLER
from app.errors import RateLimitedError
from app.logs import add_log_fields
from app.ratelimit import Decision, RateLimiter
from app.ratelimit.tokens_used import counting
from app.runtime import Runtime
from app.services.answer import Answer

_HEADER_DOCS = {
    "X-RateLimit-Limit": "Requests per minute allowed to this API key.",
    "X-RateLimit-Remaining": "Requests this key may still send now.",
    "X-RateLimit-Reset": "Seconds until the key's request allowance is full again.",
    "X-RateLimit-Limit-Tokens": "Tokens per minute allowed to this API key.",
    "X-RateLimit-Remaining-Tokens": "Tokens left in the key's allowance now.",
    "X-RateLimit-Reset-Tokens": "Seconds until the key's token allowance is full again.",
}
OPENAPI_HEADERS = {name: {"description": text, "schema": {"type": "integer"}}
                   for name, text in _HEADER_DOCS.items()}
OPENAPI_429 = {
    "description": "Over the API key's rate limit (`rate_limited`): nothing was done; "
    "`Retry-After` says when to retry (seconds).",
    "headers": {"Retry-After": {"description": "Seconds to wait before retrying.",
                                "schema": {"type": "integer"}}, **OPENAPI_HEADERS},
}


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    headers: dict[str, str] = {}
    for quota, suffix in ((decision.requests, ""), (decision.tokens, "-Tokens")):
        if quota is not None:
            headers[f"X-RateLimit-Limit{suffix}"] = str(quota.limit)
            headers[f"X-RateLimit-Remaining{suffix}"] = str(quota.remaining)
            headers[f"X-RateLimit-Reset{suffix}"] = str(math.ceil(quota.reset_seconds))
    return headers


@dataclass(frozen=True)
class RateLimitTicket:
    """An admitted request: charge what its answer used when it is known."""

    limiter: RateLimiter
    caller: str  # the bucket: the key's name, or `anonymous` in open mode
    client: Caller  # who is asking (team, admin), for the routes behind the gate
    runtime: Runtime  # for the route: one dependency instead of two (app/api/deps.py)

    async def charged(self, answering: Awaitable[Answer]) -> Answer:
        """The answer; the tokens its paid calls used are charged however it ends (an error or
        a cancellation too: app/ratelimit/tokens_used.py), shielded from that cancellation."""
        with counting() as used:
            try:
                return await answering
            finally:
                if sum(used):
                    await asyncio.shield(self.limiter.charge(self.caller, sum(used)))


async def rate_limit(request: Request) -> RateLimitTicket:
    """The API-key check, then the caller's limits: one flat dependency (app/api/deps.py says
    why). A wrong key is refused (401) before it can spend anybody's limit.

    Open mode (no client keys configured): every request is the caller `anonymous`, limited
    by `rate_limits.default` as one bucket: the service is protected even when nobody is known."""
    runtime = runtime_of(request)
    client = authenticate(request, runtime)
    caller = client.key_name or ANONYMOUS_CALLER
    decision = await runtime.rate_limiter.admit(caller)
    if decision is not None:
        # RequestContextMiddleware adds them to whatever response follows, error or not.
        request.scope["state"][RATE_LIMIT_HEADERS] = rate_limit_headers(decision)
        if not decision.allowed:
            kind = decision.refused_by or "requests"
            add_log_fields(rate_limited=kind)
            raise RateLimitedError(
                f"API key {caller!r} is over its {kind} per minute; retry after the time in "
                "Retry-After", limit=kind, retry_after_seconds=decision.retry_after_seconds)
    return RateLimitTicket(runtime.rate_limiter, caller, client, runtime)


RateLimitDep = Annotated[RateLimitTicket, Depends(rate_limit)]
