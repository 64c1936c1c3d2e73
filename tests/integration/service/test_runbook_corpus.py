"""The real service with a team's corpus: nested folders, front matter, bad files, and no
usable runbook at all. A bad corpus is a readiness answer with reasons, never a crash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.fakes.service_process import ServiceProcess, wait_until

pytestmark = pytest.mark.integration

Start = Callable[..., ServiceProcess]


def test_nested_corpus_with_bad_files_serves_and_reports_them(
    service_factory: Start, tmp_path: Path
) -> None:
    books = tmp_path / "books"
    (books / "kubernetes").mkdir(parents=True)
    (books / "kubernetes" / "KubePodCrashLooping.md").write_text(
        "---\ntitle: Kube Pod Crash Looping\n---\n# KubePodCrashLooping\n\n## Meaning\n\n"
        "Pod is in CrashLoop: the container keeps exiting and kubelet restarts it.\n")
    (books / "kubernetes" / "_index.md").write_text("---\ntitle: kubernetes\n---\n")
    (books / "latin1.md").write_bytes(b"# Caf\xe9\n## Meaning\nnot UTF-8")
    svc = service_factory({"SRE_AI_RUNBOOKS_DIR": str(books)})

    ready = httpx.get(svc.url + "/health/ready")
    assert ready.status_code == 200
    runbooks = ready.json()["runbooks"]
    assert runbooks["count"] == 1 and runbooks["problem"] is None
    assert sorted((s["file"], s["reason"]) for s in runbooks["skipped"]) == [
        ("kubernetes/_index", "no_headings"), ("latin1", "not_utf8")]
    metrics = httpx.get(svc.url + "/metrics").text
    assert 'ai_runbooks_skipped{reason="not_utf8"} 1.0' in metrics

    answer = httpx.post(svc.url + "/ask", json={"question": "KubePodCrashLooping fired"}).json()
    assert answer["sources"] == ["kubernetes/KubePodCrashLooping"]


def test_an_empty_corpus_is_not_ready_then_ready_when_a_runbook_arrives(
    service_factory: Start, tmp_path: Path
) -> None:
    books = tmp_path / "books"
    books.mkdir()
    svc = service_factory({"SRE_AI_RUNBOOKS_DIR": str(books),
                           "SRE_AI_WATCH_INTERVAL_SECONDS": "0.2"})
    assert httpx.get(svc.url + "/health/live").status_code == 200
    ready = httpx.get(svc.url + "/health/ready")
    assert ready.status_code == 503
    assert "no runbooks" in ready.json()["runbooks"]["problem"]

    (books / "disk.md").write_text("# Disk full\n## Mitigation\nDelete old logs on the node.\n")
    wait_until(lambda: httpx.get(svc.url + "/health/ready").status_code == 200,
               timeout=30, what="ready after the first runbook")
