"""FastAPI dependencies: the Runtime from app.state, and the API-key check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from app.logs import add_log_fields
from app.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def require_api_key(request: Request, runtime: RuntimeDep) -> str | None:
    keys = runtime.api_keys
    if not keys.enabled:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    name = keys.identify(token.strip()) if scheme.lower() == "bearer" and token else None
    if name is None:
        raise HTTPException(401, "missing or wrong API key (Authorization: Bearer <key>)",
                            headers={"WWW-Authenticate": "Bearer"})
    add_log_fields(client=name)
    return name


ClientDep = Annotated[str | None, Depends(require_api_key)]
