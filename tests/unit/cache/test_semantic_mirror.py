"""A replica's copies of shared semantic buckets, fed the lookup script's replies: applied only
when they fit the copy, bounded in entries, an undecodable entry a miss (the Redis side is in
tests/integration/cache/test_semantic_redis_copies.py)."""

from __future__ import annotations

import numpy as np
import pytest

from app.cache.semantic import BUCKET_MAX, SemanticEntry
from app.cache.semantic_mirror import Mirrors, StaleCopy, encode


def entry(key: str, x: float) -> bytes:
    v = np.array([1.0, x], dtype=np.float32)
    return encode(SemanticEntry(key, f"question {key}", v / np.linalg.norm(v), 1.0))


def full(epoch: str, head: int, *keys: str) -> list[object]:
    pairs: list[object] = []
    for i, k in enumerate(keys):
        pairs += [k.encode(), entry(k, i)]
    return [epoch.encode(), head, pairs, b"full"]


def test_a_delta_applies_to_the_copy_it_was_asked_for() -> None:
    mirrors = Mirrors(1000)
    bucket = mirrors.apply("b", full("e1", 2, "x", "y"), -1)
    assert bucket is not None and sorted(bucket.keys()) == ["x", "y"]
    assert mirrors.version("b") == ("e1", 2)
    bucket = mirrors.apply("b", [b"e1", 4, [b"x", None, b"z", entry("z", 5)], b"delta"], 2)
    assert bucket is not None and sorted(bucket.keys()) == ["y", "z"]
    assert mirrors.version("b") == ("e1", 4) and len(mirrors) == 2
    assert mirrors.apply("b", [b"e1", 4], 4) is bucket  # unchanged


def test_a_reply_that_no_longer_fits_the_copy_asks_for_the_whole_bucket() -> None:
    mirrors = Mirrors(1000)
    mirrors.apply("b", full("e1", 2, "x"), -1)
    with pytest.raises(StaleCopy):  # the copy was replaced by another epoch meanwhile
        mirrors.apply("b", [b"e0", 5, [b"y", entry("y", 1)], b"delta"], 1)
    mirrors.drop("b")
    with pytest.raises(StaleCopy):  # "unchanged", but the copy is gone
        mirrors.apply("b", [b"e1", 2], 2)
    assert mirrors.apply("b", [], -1) is None and mirrors.version("b") == ("", -1)


def test_an_older_reply_never_rolls_a_copy_back() -> None:
    mirrors = Mirrors(1000)
    mirrors.apply("b", full("e1", 5, "x", "y"), -1)
    bucket = mirrors.apply("b", full("e1", 3, "x"), -1)  # a slower lookup's answer
    assert bucket is not None and sorted(bucket.keys()) == ["x", "y"]
    assert mirrors.version("b") == ("e1", 5)


def test_an_entry_written_by_another_version_is_left_out() -> None:
    mirrors = Mirrors(1000)
    bucket = mirrors.apply("b", [b"e1", 2, [b"x", entry("x", 0), b"bad", b"12\0"], b"full"], -1)
    assert bucket is not None and bucket.keys() == ["x"]


def test_copies_are_bounded_in_entries_least_recently_used_out() -> None:
    mirrors = Mirrors(0)  # never below one full bucket
    keys = [f"k{i}" for i in range(BUCKET_MAX // 2)]
    for name in ("b1", "b2", "b3"):
        mirrors.apply(name, full("e", 1, *keys), -1)
        mirrors.apply("b1", [b"e", 1], 1)  # b1 looked up again: the most recent
    assert len(mirrors) <= BUCKET_MAX
    assert mirrors.version("b1") == ("e", 1) and mirrors.version("b2") == ("", -1)
