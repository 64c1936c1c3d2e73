import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from app.config import BUNDLED_RUNBOOKS
from app.runbooks.loader import load_runbooks, parse_runbook
from app.runbooks.search import RunbookIndex, _norm
from app.runbooks.text import stem, tokenize


@pytest.fixture(scope="module")
def index() -> RunbookIndex:
    return RunbookIndex(load_runbooks(BUNDLED_RUNBOOKS))


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("pod OOMKilled, what now?", "pod-oomkilled"),
        ("container exited with exit code 137", "pod-oomkilled"),
        ("my pods keep crashing with CrashLoopBackOff", "crashloopbackoff"),
        ("image pull fails with ErrImagePull", "image-pull-backoff"),
        ("redis is evicting keys, maxmemory reached", "redis-memory-pressure"),
        ("postgres says too many connections", "database-connection-exhaustion"),
        ("TLS certificate expired on the ingress", "tls-certificate-expiry"),
        ("DNS lookups fail with NXDOMAIN inside pods", "dns-resolution-failures"),
        ("the HPA is not scaling out", "hpa-not-scaling"),
    ],
)
def test_the_runbook_that_names_the_symptom_ranks_first(
    index: RunbookIndex, question: str, expected: str
) -> None:
    result = index.search(question)
    assert result.answerable
    assert result.sources[0] == expected


@pytest.mark.parametrize(
    "question", ["how do I bake a sourdough cake", "what's the weather in Paris", "zzz qqq"]
)
def test_off_topic_questions_have_no_answer(index: RunbookIndex, question: str) -> None:
    assert not index.search(question).answerable


def test_ranking_is_bm25_not_substring_matching() -> None:
    # "oom" occurs as a substring of "room" in the distractor, but only the real match
    # shares the token; and term frequency saturates instead of growing without bound.
    books = [
        parse_runbook("distractor", "# Room booking\n## Meaning\nroom room room room room"),
        parse_runbook("oom", "# OOM\n## Meaning\nThe kernel OOM killer ended the process."),
        parse_runbook("spam", "# Kernel\n## Meaning\n" + "kernel " * 200),
    ]
    index = RunbookIndex(books, min_score=0.0)
    assert index.search("oom", mode="sparse").sources == ["oom"]
    hits = index.search("kernel killer", mode="sparse").hits
    assert hits[0].chunk.runbook_id == "oom"  # two matched terms beat one term repeated 200x


def test_limit_caps_the_hits(index: RunbookIndex) -> None:
    assert len(index.search("pod crash restart memory", limit=2).hits) <= 2


def test_context_hash_changes_when_a_retrieved_section_changes() -> None:
    v1 = RunbookIndex([parse_runbook("a", "# Disk full\n## Mitigation\nDelete old logs.")],
                      min_score=0.0)
    v2 = RunbookIndex([parse_runbook("a", "# Disk full\n## Mitigation\nRotate the logs.")],
                      min_score=0.0)
    h1 = v1.search("disk full").context_hash
    assert h1 == v1.search("disk full").context_hash
    assert h1 != v2.search("disk full").context_hash


def test_chunks_are_cut_at_headings_and_code_fences_are_not_headings() -> None:
    book = parse_runbook("x", "# Title\n## Meaning\nm\n```\n# not a heading\n```\n## Impact\ni")
    assert book.title == "Title"
    assert [c.section for c in book.chunks] == ["Meaning", "Impact"]
    assert "# not a heading" in book.chunks[0].text


def test_loader_skips_hidden_entries_of_a_mounted_configmap(tmp_path: Path) -> None:
    data = tmp_path / "..2026_11_27_00_00_00.1"
    data.mkdir()
    (data / "disk.md").write_text("# Disk\n## Meaning\nfull")
    (tmp_path / "..data").symlink_to(data.name)
    (tmp_path / "disk.md").symlink_to("..data/disk.md")
    assert [b.id for b in load_runbooks(tmp_path)] == ["disk"]


def test_tokenize_folds_plurals_and_drops_stop_words() -> None:
    assert tokenize("The pods are crashing") == ["pod", "crash"]
    assert stem("oomkilled") == "oomkill"
    assert "137" in tokenize("exit code 137")


def test_navigation_sections_are_not_indexed() -> None:
    book = parse_runbook("x", "# T\n## Meaning\nm\n## Related\ncrashloopbackoff, pod-oomkilled")
    assert [c.section for c in book.chunks] == ["Meaning"]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("AIBudgetExhausted fired, what now", "ai-budget-exhausted"),
        ("aibudgetnearlyexhausted is pending", "ai-budget-exhausted"),
        ("KubePodCrashLooping", "crashloopbackoff"),
        ("alert KubeNodeNotReady for node-7", "node-notready"),
    ],
)
def test_a_question_naming_an_alert_goes_to_the_runbook_declaring_it(
    index: RunbookIndex, question: str, expected: str
) -> None:
    result = index.search(question)
    assert result.answerable
    assert result.sources[0] == expected


def test_alert_name_beats_text_that_matches_another_runbook_better() -> None:
    books = [
        parse_runbook("KubeletDown", "# KubeletDown\n## Meaning\nThe kubelet is gone."),
        parse_runbook("disk", "# Disk\n## Meaning\nnode disk full evictions disk pressure disk"),
    ]
    index = RunbookIndex(books)
    assert index.search("KubeletDown while disk full disk pressure evictions").sources[0] == (
        "KubeletDown")


def test_hybrid_finds_a_symptom_described_in_other_words(index: RunbookIndex) -> None:
    # The example: no runbook says "traffic grew" or "replica count did not"; BM25 alone
    # ranks the database runbook first.
    question = "traffic grew but the replica count did not"
    assert index.search(question, mode="sparse").sources[0] != "hpa-not-scaling"
    assert index.search(question).sources[0] == "hpa-not-scaling"


def test_questions_folded_alike_retrieve_the_same_context(index: RunbookIndex) -> None:
    # the answer cache folds case and punctuation: retrieval must not tell them apart
    a = index.search("pod OOMKilled, what now?")
    b = index.search("POD oomkilled -- what now")
    assert a.context_hash == b.context_hash


def test_an_empty_index_answers_nothing() -> None:
    assert not RunbookIndex([]).search("pod OOMKilled").answerable


def test_min_max_normalisation_is_the_textbook_one() -> None:
    rng = np.random.default_rng(5)
    for x in (rng.random(29, dtype=np.float32) * 7, rng.random(123).astype(np.float32)):
        lo, hi = float(x.min()), float(x.max())
        assert np.array_equal(_norm(x), (x.astype(np.float64) - lo) / (hi - lo))
    assert _norm(np.full(4, 2.5, dtype=np.float32)).tolist() == [0.0] * 4


def test_words_nobody_asks_twice_do_not_stay_resident() -> None:
    """Questions bring one-off words (pod names, ticket and trace ids). The stemmer's cache
    must not keep them all: 20,000 questions, each with two words of its own, leave well
    under the 5.4 MiB that a cache of 65,536 entries kept (it grew a worker's RSS by ~10 MiB
    over its first ~65,000 paid answers)."""
    tokenize("warm up")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(20_000):
            tokenize(f"pod checkout-{n:05d}x OOMKilled")
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert retained < 1.5 * 2**20
