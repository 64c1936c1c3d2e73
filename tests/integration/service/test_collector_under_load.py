"""The real service (uvicorn app.main:app, offline default) under concurrent questions: once it is
ready, Python's garbage collector no longer runs young collections every few requests
(app/gc_tuning.py), and /metrics shows it (`python_gc_collections_total`, `process_*`)."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from tests.fakes.service_process import ServiceProcess

pytestmark = pytest.mark.integration

QUESTIONS, CONCURRENCY = 1000, 32


def collections(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics").text
    found = re.findall(r'^python_gc_collections_total\{generation="(\d)"\} (\S+)$', text, re.M)
    return {generation: float(value) for generation, value in found}


async def ask_concurrently(url: str, count: int, concurrency: int) -> list[int]:
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        async def one(i: int) -> int:
            async with slots:
                r = await client.post("/ask", json={"question": f"pod OOMKilled, what now? {i}"})
                return r.status_code
        return await asyncio.gather(*(one(i) for i in range(count)))


def test_concurrent_questions_run_no_young_collection(offline_service: ServiceProcess) -> None:
    """With Python's defaults (SRE_AI_GC_YOUNG_THRESHOLD=0) the same load ran 18 young
    collections and 2 older ones here; at concurrency 64 on the paid path, about one per
    four requests (app/gc_tuning.py)."""
    url = offline_service.url
    before = collections(url)
    assert set(before) == {"0", "1", "2"}

    statuses = asyncio.run(ask_concurrently(url, QUESTIONS, CONCURRENCY))

    assert set(statuses) == {200}
    after = collections(url)
    assert {g: after[g] - before[g] for g in after} == {"0": 0.0, "1": 0.0, "2": 0.0}


def test_metrics_show_the_process(offline_service: ServiceProcess) -> None:
    text = httpx.get(offline_service.url + "/metrics").text
    rss = re.search(r"^process_resident_memory_bytes (\S+)$", text, re.M)
    assert rss is not None and float(rss.group(1)) > 50 * 2**20
    assert re.search(r"^process_cpu_seconds_total \S+$", text, re.M)
    assert re.search(r'^python_info\{implementation="CPython",', text, re.M)
