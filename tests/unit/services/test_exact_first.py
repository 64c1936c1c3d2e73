"""The exact cache is consulted before retrieval, and its entries live exactly as long as the
runbook sections they were built on (app/services/answer.py, app/cache/exact.py)."""

from __future__ import annotations

import threading

from app.runbooks.loader import parse_runbook
from app.runbooks.results import SearchResult
from app.runbooks.search import INLINE_MAX_SECTIONS, RunbookIndex
from tests.unit.services.test_answer_ladder import Harness

DISK = "# Disk full\n## Mitigation\nDelete old container logs under /var/log/pods.\n"
CERT_Q = "the TLS certificate expired, how do I renew it with cert-manager?"
CERT = "# Certificate expired\n## Mitigation\nRenew the certificate with cert-manager.\n"


class _Corpus:
    """Two runbooks; `edit` replaces one's text as a ConfigMap update would."""

    def __init__(self) -> None:
        self.texts = {"disk": DISK, "cert": CERT}
        self.index = self._build()

    def _build(self) -> RunbookIndex:
        return RunbookIndex([parse_runbook(k, v) for k, v in self.texts.items()])

    def edit(self, runbook: str, text: str) -> None:
        self.texts[runbook] = text
        self.index = self._build()


def _harness(corpus: _Corpus) -> Harness:
    h = Harness()
    h.service._index = lambda: corpus.index
    return h


def _searches(h: Harness) -> float:
    return h.sample("ai_retrieval_seconds_count")


async def test_an_exact_hit_is_served_without_searching() -> None:
    h = _harness(_Corpus())
    await h.service.ask("disk is full, which logs can I delete?")
    assert _searches(h) == 1
    again = await h.service.ask("Disk is full -- which logs can I delete")
    assert again.cached and len(h.provider.calls) == 1
    assert _searches(h) == 1  # the hit did not search (nor embed the question)


async def test_an_edit_invalidates_exactly_the_answers_built_on_the_edited_section() -> None:
    corpus = _Corpus()
    h = _harness(corpus)
    disk_q, cert_q = "disk is full, which logs can I delete?", CERT_Q
    await h.service.ask(disk_q)
    await h.service.ask(cert_q)
    assert len(h.provider.calls) == 2
    corpus.edit("disk", DISK.replace("/var/log/pods", "/var/log/containers"))
    disk_again = await h.service.ask(disk_q)
    cert_again = await h.service.ask(cert_q)
    assert not disk_again.cached  # built on the edited section: answered afresh
    assert cert_again.cached  # the certificate runbook did not change: still served
    assert len(h.provider.calls) == 3


async def test_an_answer_whose_section_was_removed_is_not_served() -> None:
    corpus = _Corpus()
    h = _harness(corpus)
    await h.service.ask(CERT_Q)
    corpus.texts.pop("cert")
    corpus.index = corpus._build()
    again = await h.service.ask(CERT_Q)
    assert not again.cached


class _RecordingIndex(RunbookIndex):
    """Records the thread each search runs on."""

    seen: list[int]

    def search(self, *args: object, **kwargs: object) -> SearchResult:
        self.seen.append(threading.get_ident())
        return super().search(*args, **kwargs)  # type: ignore[arg-type]


async def _search_thread(index: _RecordingIndex) -> int:
    index.seen = []
    h = Harness()
    h.service._index = lambda: index
    await h.service.ask("disk is full, which logs can I delete?")
    assert len(index.seen) == 1
    return index.seen[0]


async def test_a_large_corpus_is_searched_in_a_worker_thread_not_on_the_event_loop() -> None:
    sections = "".join(f"## Step {i}\nCheck volume {i} for old logs.\n"
                       for i in range(INLINE_MAX_SECTIONS))
    index = _RecordingIndex([parse_runbook("disk", DISK + sections)])
    assert index.chunk_count > INLINE_MAX_SECTIONS
    assert await _search_thread(index) != threading.get_ident()


async def test_a_small_corpus_is_searched_on_the_event_loop_without_a_thread_hop() -> None:
    index = _RecordingIndex([parse_runbook("disk", DISK)])
    assert await _search_thread(index) == threading.get_ident()


async def test_a_runbook_added_since_is_not_hidden_behind_an_old_answer() -> None:
    corpus = _Corpus()
    h = _harness(corpus)
    question = "disk is full, which container logs under /var/log/pods can I delete?"
    first = await h.service.ask(question)
    assert first.sources == ["disk"]
    corpus.texts["disk-logs"] = ("# Disk full of container logs\n## Mitigation\nWhen the disk "
                                 "is full of container logs under /var/log/pods, delete the "
                                 "container logs of exited pods with crictl rmp.\n")
    corpus.index = corpus._build()
    again = await h.service.ask(question)
    assert not again.cached and again.sources[0] == "disk-logs"


async def test_a_section_added_since_is_not_hidden_behind_the_semantic_tier() -> None:
    """The question now retrieves a section added after its answer: the exact tier refuses the
    old answer, and so must the semantic tier, where the question finds its own entry."""
    corpus = _Corpus()
    h = _harness(corpus)
    q = "disk is full, which logs can I delete?"
    h.provider.reply = "OLD"
    await h.service.ask(q)
    corpus.edit("disk", DISK + "## Images\nPrune unused container images with crictl rmi "
                "--prune to free disk.\n")
    h.provider.reply = "NEW"
    again = await h.service.ask(q)
    assert again.answer == "NEW" and not again.cached and len(h.provider.calls) == 2
    assert h.sample("ai_cache_lookups_total", outcome="semantic") == 0
