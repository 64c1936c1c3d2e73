"""The Python floor for the throughput bench: a bare FastAPI endpoint making ONE `AsyncAnthropic`
call on the SDK's aiohttp transport, with nothing else (no ledger, cache, breaker, metrics, logs).

Whatever the real service costs above this, per request, is what our features add. Run it the
way the service runs, under uvicorn with one worker:

    ANTHROPIC_BASE_URL=http://127.0.0.1:PORT ANTHROPIC_API_KEY=... \
        python -m uvicorn bench.floor_app:app --port 9000 --no-access-log
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
from fastapi import FastAPI
from pydantic import BaseModel

MODEL = "claude-sonnet-4-6"


class Ask(BaseModel):
    question: str


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.client = anthropic.AsyncAnthropic(
        api_key=os.environ["ANTHROPIC_API_KEY"], base_url=os.environ["ANTHROPIC_BASE_URL"],
        max_retries=0, http_client=anthropic.DefaultAioHttpClient())
    yield
    await app.state.client.close()


app = FastAPI(lifespan=lifespan)


@app.get("/health/ready")
async def ready() -> dict[str, bool]:
    return {"ready": True}


@app.post("/ask")
async def ask(body: Ask) -> dict[str, Any]:
    message = await app.state.client.messages.create(
        model=MODEL, max_tokens=1024,
        messages=[{"role": "user", "content": body.question}])
    text = "".join(getattr(block, "text", "") for block in message.content)
    return {"answer": text, "input_tokens": message.usage.input_tokens,
            "output_tokens": message.usage.output_tokens}
