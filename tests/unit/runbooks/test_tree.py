"""Which files are runbooks (app/runbooks/tree.py): the one walk the loader and the watcher
share. Real folders, files and symlinks in a temporary directory."""

from __future__ import annotations

import os
from pathlib import Path

from app.runbooks.loader import load_corpus, runbook_files
from app.runbooks.tree import markdown_entries


def write(path: Path, text: str = "# T\n\n## Meaning\n\nbody\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def ids(directory: Path) -> list[str]:
    return [runbook_id for runbook_id, _ in markdown_entries(directory)]


def test_nested_markdown_files_by_id_dot_entries_and_other_files_skipped(tmp_path: Path) -> None:
    write(tmp_path / "node-notready.md")
    write(tmp_path / "kubernetes" / "KubePodCrashLooping.md")
    write(tmp_path / "kubernetes" / "deep" / "etcd.md")
    write(tmp_path / "notes.txt")
    write(tmp_path / ".hidden.md")
    write(tmp_path / ".git" / "stale.md")
    assert ids(tmp_path) == ["kubernetes/KubePodCrashLooping", "kubernetes/deep/etcd",
                             "node-notready"]
    assert runbook_files(tmp_path)[0] == (
        "kubernetes/KubePodCrashLooping", tmp_path / "kubernetes" / "KubePodCrashLooping.md")


def test_a_symlink_loop_lists_each_runbook_once(tmp_path: Path) -> None:
    """With os.walk(followlinks=True) the link below made 41 copies of x (sub/up/x,
    sub/up/sub/up/x, ... to the kernel's 40-link limit): 41 runbooks in the index for one."""
    write(tmp_path / "x.md")
    write(tmp_path / "sub" / "y.md")
    os.symlink("..", tmp_path / "sub" / "up")
    assert ids(tmp_path) == ["sub/y", "x"]
    assert len(load_corpus(tmp_path).runbooks) == 2


def test_a_folder_linked_twice_is_walked_once_under_the_first_name(tmp_path: Path) -> None:
    """`latest -> v2` beside `v2`: the same files once, under the name that sorts first, so
    the ids do not change from one walk to the next."""
    write(tmp_path / "v2" / "oom.md")
    os.symlink("v2", tmp_path / "latest")
    for _ in range(3):
        assert ids(tmp_path) == ["latest/oom"]


def test_a_linked_file_and_a_dangling_link_are_listed_like_files(tmp_path: Path) -> None:
    """A ConfigMap's visible names are links to `..data/<name>`; a dangling one is listed, so
    the loader reports it as unreadable instead of dropping it silently."""
    write(tmp_path / "..data" / "oom.md")
    os.symlink("..data/oom.md", tmp_path / "oom.md")
    os.symlink("..data/gone.md", tmp_path / "gone.md")
    assert ids(tmp_path) == ["gone", "oom"]
    corpus = load_corpus(tmp_path)
    assert [r.id for r in corpus.runbooks] == ["oom"]
    assert [(s.path, s.reason) for s in corpus.skipped] == [("gone", "unreadable")]

