from pathlib import Path

import pytest

from app.runbooks.loader import _HEADING, load_corpus, parse_runbook
from app.runbooks.search import RunbookIndex


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def test_nested_folders_load_with_ids_unique_across_folders(tmp_path: Path) -> None:
    write(tmp_path / "node" / "Disk.md", "# Disk on nodes\n## Meaning\nnode disk")
    write(tmp_path / "etcd" / "Disk.md", "# Disk on etcd\n## Meaning\netcd disk")
    write(tmp_path / "top.md", "# Top\n## Meaning\nt")
    corpus = load_corpus(tmp_path)
    assert [rb.id for rb in corpus.runbooks] == ["etcd/Disk", "node/Disk", "top"]
    assert corpus.skipped == []
    # stable: the same tree loads to the same ids and digests
    again = load_corpus(tmp_path)
    assert [(rb.id, rb.digest) for rb in again.runbooks] == [
        (rb.id, rb.digest) for rb in corpus.runbooks]


def test_hugo_front_matter_gives_title_and_alert_names() -> None:
    book = parse_runbook(
        "kubernetes/KubePodCrashLooping",
        "---\ntitle: Kube Pod Crash Looping\nweight: 20\n---\n\n# KubePodCrashLooping\n\n"
        "## Meaning\nPod is in CrashLoop.\n",
    )
    assert book.title == "Kube Pod Crash Looping"
    assert [c.section for c in book.chunks] == ["Meaning"]
    assert "weight" not in book.chunks[0].text
    assert book.alerts == ("KubePodCrashLooping",)


def test_declared_alerts_and_toml_front_matter() -> None:
    yaml_book = parse_runbook("ai-budget", "---\nalerts: [AIBudgetExhausted, AIBudgetNearly]\n"
                                           "---\n# Budget\n## Meaning\nm")
    assert yaml_book.alerts == ("AIBudgetExhausted", "AIBudgetNearly")
    toml_book = parse_runbook("x", '+++\ntitle = "Disk"\nalert = "NodeDiskFull"\n+++\n'
                                   "# H\n## Meaning\nm")
    assert (toml_book.title, toml_book.alerts) == ("Disk", ("NodeDiskFull",))


def test_a_byte_order_mark_does_not_hide_the_first_heading() -> None:
    """Editors on Windows save UTF-8 with a BOM: `\ufeff# Title` must still be the title (and
    its alert name an alert), with or without front matter."""
    one = parse_runbook("disk", "\ufeff# KubeDiskFull\nFree space by deleting logs.\n")
    assert one.title == "KubeDiskFull" and one.alerts == ("KubeDiskFull",)
    two = parse_runbook("disk", "\ufeff# Disk full\nintro\n## Fix\nDelete logs.\n")
    assert two.title == "Disk full"
    assert all("\ufeff" not in c.text and "# Disk full" not in c.text for c in two.chunks)


@pytest.mark.parametrize(("line", "parsed"), [
    ("## Fix", ("##", "Fix")), ("#  Title  ", ("#", "Title")), ("### a b c ", ("###", "a b c")),
    ("#\t\tTabbed\t", ("#", "Tabbed")), ("## Fix\r", ("##", "Fix")), ("#nospace", None),
    ("#   ", None), ("#" + "\t" * 20_000, None),
])
def test_heading_lines(line: str, parsed: tuple[str, str] | None) -> None:
    """What a heading is (CRLF files, tabs, trailing blanks). The pattern's cost on the last
    line, hashes then whitespace only, is linear now: 1.4 s before for 20,000 tabs."""
    found = _HEADING.match(line)
    assert (found.groups() if found else None) == parsed


def test_plain_lowercase_file_names_are_not_alert_names() -> None:
    assert parse_runbook("node-notready", "# Node NotReady\n## Meaning\nm").alerts == ()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"# Caf\xe9\n## Meaning\nlatin-1, not UTF-8", "not_utf8"),
        (b"just a paragraph of text, no heading at all", "no_headings"),
        (b"---\ntitle: [unclosed\n---\n# T\n## M\nm", "bad_front_matter"),
        (b"---\ntitle: never closed\n# T\n## M\nm", "bad_front_matter"),
        (b"# " + b"x" * 3000 + b"\n## M\nm", "too_large"),
    ],
)
def test_a_bad_file_is_skipped_with_its_reason_and_the_rest_loads(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    write(tmp_path / "good.md", "# Good\n## Meaning\nfine")
    write(tmp_path / "sub" / "bad.md", content)
    corpus = load_corpus(tmp_path, max_bytes=2048)
    assert [rb.id for rb in corpus.runbooks] == ["good"]
    assert [(s.path, s.reason) for s in corpus.skipped] == [("sub/bad", reason)]
    assert corpus.skipped[0].detail


def test_hugo_section_index_without_content_is_skipped(tmp_path: Path) -> None:
    write(tmp_path / "kubernetes" / "_index.md", "---\ntitle: kubernetes\nweight: 10\n---\n")
    write(tmp_path / "kubernetes" / "KubeletDown.md", "# KubeletDown\n## Meaning\nkubelet")
    corpus = load_corpus(tmp_path)
    assert [rb.id for rb in corpus.runbooks] == ["kubernetes/KubeletDown"]
    assert [s.reason for s in corpus.skipped] == ["no_headings"]


def test_a_missing_directory_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_corpus(tmp_path / "nope")


def test_hidden_directories_of_a_configmap_mount_are_not_walked(tmp_path: Path) -> None:
    data = tmp_path / "..2026_11_27_00_00_00.1"
    write(data / "disk.md", "# Disk\n## Meaning\nfull")
    write(data / "nested" / "net.md", "# Net\n## Meaning\ndown")
    (tmp_path / "..data").symlink_to(data.name)
    (tmp_path / "disk.md").symlink_to("..data/disk.md")
    (tmp_path / "nested").symlink_to("..data/nested")
    assert [b.id for b in load_corpus(tmp_path).runbooks] == ["disk", "nested/net"]


def test_a_reload_reuses_unchanged_runbooks_and_reparses_edited_ones(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "# A\n## Meaning\na")
    write(tmp_path / "b.md", "# B\n## Meaning\nb")
    first = {rb.id: rb for rb in load_corpus(tmp_path).runbooks}
    write(tmp_path / "b.md", "# B\n## Meaning\nb, edited")
    second = {rb.id: rb for rb in load_corpus(tmp_path, previous=first).runbooks}
    assert second["a"] is first["a"]
    assert second["b"] is not first["b"] and "edited" in second["b"].chunks[0].text


def test_identical_files_without_a_title_are_searched_under_their_own_names(
        tmp_path: Path) -> None:
    """Their titles come from their file names, and their terms and vectors from their titles
    too: the content hash alone made one file's terms serve both."""
    body = "## Fix\nRestart the process and check the logs.\n"
    write(tmp_path / "kafka-lag.md", body)
    write(tmp_path / "zookeeper-down.md", body)
    books = load_corpus(tmp_path).runbooks
    assert len({b.digest for b in books}) == 2
    index = RunbookIndex(books, min_score=0)
    assert index.search("kafka lag").hits[0].chunk.runbook_id == "kafka-lag"
    assert index.search("zookeeper down").hits[0].chunk.runbook_id == "zookeeper-down"


def test_an_all_caps_file_name_is_not_an_alert_name() -> None:
    """README.md in a git-synced runbook repo: taken for an alert, every question saying
    "readme" went to it past the no-answer gate. CamelCase alert names still are."""
    assert parse_runbook("README", "# About these runbooks\n## Use\nAsk.\n").alerts == ()
    assert parse_runbook("SUMMARY", "# Contents\n## All\nx\n").alerts == ()
    assert parse_runbook("kubernetes/KubeAPIDown", "# API down\n## Fix\nx\n").alerts == (
        "KubeAPIDown",)


@pytest.mark.parametrize("fence", ["```", "~~~"])
def test_a_comment_in_a_code_block_is_not_a_heading(fence: str) -> None:
    book = parse_runbook("drain", f"# Drain a node\n## Steps\n{fence}bash\n# drain the node first\n"
                                  f"kubectl drain node-1\n## not a section either\n{fence}\n"
                                  "Then watch the pods.\n")
    assert [c.section for c in book.chunks] == ["Steps"]
    assert "# drain the node first" in book.chunks[0].text
