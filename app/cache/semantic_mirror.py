"""A replica's decoded copies of the shared semantic tier's buckets, kept current by deltas.

Reading a whole bucket from Redis on every lookup (HGETALL: 128 entries of 1 KB, ~90 µs of
Redis time) and decoding every vector again was most of the semantic tier's cost on a paid
question (issue 14). Instead each bucket in Redis carries a version: an epoch (a random token
chosen by the add that created it, so a bucket expired or invalidated and created again is never
mistaken for the old one) and a head (the number of changes), bumped by the very script that
changes it, with a log of the answer keys changed (app/cache/semantic_redis.py). A lookup sends
the (epoch, head) of its copy and gets back, in one round trip: nothing when the bucket is
unchanged, the entries changed since (their current value, or none when removed) when the log
still reaches back that far, else the whole bucket. So a replica sees every other replica's adds,
removals and invalidations on its next lookup, and decodes only what changed.

Copies are bounded like the tier (`semantic_max_entries` entries in all, least recently looked
up bucket out first) and hold no more than Redis did: a copy is never served without asking
Redis whether it is current.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.cache.semantic import BUCKET_MAX, SemanticEntry
from app.cache.semantic_bucket import Bucket


class StaleCopy(Exception):
    """A reply that no longer fits this replica's copy (another lookup replaced it meanwhile):
    ask for the whole bucket."""


def encode(entry: SemanticEntry) -> bytes:
    header = json.dumps({"question": entry.question, "stored_at": entry.stored_at})
    return header.encode() + b"\0" + entry.vector.astype("<f4").tobytes()


def decode(answer_key: str, raw: bytes) -> SemanticEntry:
    header, _, vector = raw.partition(b"\0")
    data = json.loads(header)
    return SemanticEntry(answer_key, data["question"],
                         np.frombuffer(vector, dtype="<f4").astype(np.float32),
                         float(data["stored_at"]))


@dataclass
class _Copy:
    epoch: str
    head: int
    bucket: Bucket


class Mirrors:
    def __init__(self, max_entries: int) -> None:
        self._max_entries = max(max_entries, BUCKET_MAX)
        self._copies: OrderedDict[str, _Copy] = OrderedDict()  # least recently used first
        self._entries = 0

    def __len__(self) -> int:
        return self._entries

    def configure(self, max_entries: int) -> None:
        self._max_entries = max(max_entries, BUCKET_MAX)
        self._bound()

    def version(self, bucket_id: str) -> tuple[str, int]:
        """What to send with a lookup: ('', -1) without a copy (the whole bucket comes back)."""
        copy = self._copies.get(bucket_id)
        return (copy.epoch, copy.head) if copy is not None else ("", -1)

    def drop(self, bucket_id: str) -> None:
        copy = self._copies.pop(bucket_id, None)
        if copy is not None:
            self._entries -= len(copy.bucket)

    def apply(self, bucket_id: str, reply: Sequence[Any], since: int) -> Bucket | None:
        """The bucket as of `reply` (the lookup script's answer to a request sent with head
        `since`); None when Redis has no such bucket. StaleCopy when the copy has moved on
        (another lookup replaced it meanwhile) and the reply does not fit it."""
        if not reply:
            self.drop(bucket_id)
            return None
        epoch, head = _text(reply[0]), int(reply[1])
        copy = self._copies.get(bucket_id)
        if copy is not None and copy.epoch == epoch and copy.head >= head:
            self._copies.move_to_end(bucket_id)
            return copy.bucket  # current (or newer: another lookup's answer came first)
        if len(reply) == 2:
            raise StaleCopy(bucket_id)  # "unchanged since `since`", but that copy is gone
        pairs, full = reply[2], reply[3] == b"full"
        if full:
            self.drop(bucket_id)
            copy = self._copies[bucket_id] = _Copy(epoch, head, Bucket())
        elif copy is None or copy.epoch != epoch or copy.head < since:
            raise StaleCopy(bucket_id)
        before = len(copy.bucket)
        for i in range(0, len(pairs), 2):
            _put(copy.bucket, _text(pairs[i]), pairs[i + 1])
        copy.head = head
        self._entries += len(copy.bucket) - before
        self._copies.move_to_end(bucket_id)
        self._bound()
        return copy.bucket

    def _bound(self) -> None:
        while self._entries > self._max_entries and len(self._copies) > 1:
            self.drop(next(iter(self._copies)))

    def clear(self) -> None:
        self._copies.clear()
        self._entries = 0


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _put(bucket: Bucket, answer_key: str, raw: bytes | None) -> None:
    if raw is None:  # removed since
        bucket.drop(answer_key)
        return
    try:
        entry = decode(answer_key, raw)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        bucket.drop(answer_key)  # written by another version: a miss, not an error
        return
    bucket.put(answer_key, entry.question, entry.vector, entry.stored_at)
