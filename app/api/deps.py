"""FastAPI dependencies: the Runtime from app.state, and the API-key check.

Dependencies are flat: each takes the Request and nothing FastAPI has to solve. Every
sub-dependency costs FastAPI its own resolution step per request (cache key, scope checks,
signature walk), measured at about 30 us each on the bench machine (issue 14): the gate of
/ask (app/api/rate_limit.py) used to resolve four. So the API-key check is a plain function,
`authenticate`, that the gates call directly."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from app.callers import OPEN_CALLER, Caller, resolve_caller
from app.errors import AuthUnavailableError
from app.logs import add_log_fields
from app.runtime import Runtime


# Both dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in its
# thread pool, and the two hand-offs per request were a third of a cached answer's CPU in the
# throughput profile (bench/results/throughput.md). Neither waits on anything: the keys file is
# stat()ed at most once per recheck interval and read only when it changed.
async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def require_api_key(request: Request) -> Caller:
    return authenticate(request, runtime_of(request))


def authenticate(request: Request, runtime: Runtime) -> Caller:
    """The anonymous caller when no key source is configured (open); the key's caller (name,
    team, admin) when it matches.

    A key source that is configured but yields no keys answers 503 `auth_unavailable`, not
    401: no client key can be right, the fault is the server's (a missing or empty Secret),
    so it must page the operator (5xx) instead of sending every client to check its key."""
    keys = runtime.api_keys
    status = keys.status()
    if status.state == "open":
        return OPEN_CALLER
    if status.state == "deny_all":
        raise AuthUnavailableError(
            "client API keys are configured but none is loaded, so every protected request "
            "is refused; the operator must fix the key Secret (see /health/ready)")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    identity = keys.identify(token.strip()) if scheme.lower() == "bearer" and token else None
    if identity is None:
        raise HTTPException(401, "missing or wrong API key (Authorization: Bearer <key>)",
                            headers={"WWW-Authenticate": "Bearer"})
    caller = resolve_caller(identity, runtime.policies.current.policy)
    add_log_fields(client=caller.key_name, team=caller.team)
    return caller


ClientDep = Annotated[Caller, Depends(require_api_key)]
