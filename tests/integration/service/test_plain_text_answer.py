"""POST /ask with `Accept: text/plain`, against the real service (uvicorn, offline default):
the answer a terminal shows, steps first, with a compact sources footer; JSON stays the
default and errors stay JSON problem bodies."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.service_process import ServiceProcess

pytestmark = pytest.mark.integration

QUESTION = {"question": "pod OOMKilled, what now?"}


def test_text_plain_is_the_answer_steps_first_then_sources(
        offline_service: ServiceProcess) -> None:
    r = httpx.post(offline_service.url + "/ask", json=QUESTION,
                   headers={"Accept": "text/plain"})

    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert "accept" in r.headers["vary"].lower()
    text = r.text
    assert text.startswith("From the runbooks (excerpts, no LLM was used):\n")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0].endswith("— Diagnosis [runbook: pod-oomkilled]")
    assert headings[1].endswith("— Mitigation [runbook: pod-oomkilled]")
    answer, footer = text.rsplit("\n--\n", 1)
    assert "kubectl" in answer  # the steps themselves
    lines = footer.splitlines()
    assert lines[0] == "sources: pod-oomkilled"
    assert lines[1].startswith("model: offline · cached: ")
    assert f"request_id: {r.headers['x-request-id']}" in lines[1]
    assert not text.lstrip().startswith("{")


@pytest.mark.parametrize("accept", [None, "*/*", "application/json",
                                    "text/plain, application/json",
                                    "text/plain;q=0.5, application/json"])
def test_json_stays_the_default(offline_service: ServiceProcess, accept: str | None) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    r = httpx.post(offline_service.url + "/ask", json=QUESTION, headers=headers)

    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert "accept" in r.headers["vary"].lower()
    body = r.json()
    assert body["sources"] == ["pod-oomkilled"]
    assert "— Diagnosis [runbook: pod-oomkilled]" in body["answer"].split("\n## ")[1]


@pytest.mark.parametrize("accept", ["text/plain", "text/*", "text/plain, */*;q=0.1"])
def test_text_is_chosen_when_ranked_above_json(offline_service: ServiceProcess,
                                               accept: str) -> None:
    r = httpx.post(offline_service.url + "/ask", json=QUESTION, headers={"Accept": accept})
    assert r.headers["content-type"].startswith("text/plain")


def test_errors_for_a_text_client_are_json_problems_with_the_request_id(
        offline_service: ServiceProcess) -> None:
    r = httpx.post(offline_service.url + "/ask", json={"question": "   "},
                   headers={"Accept": "text/plain"})

    assert r.status_code == 400
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["error"] and "empty" in body["detail"]
    assert body["request_id"] == r.headers["x-request-id"]
