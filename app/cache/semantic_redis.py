"""The semantic tier in Redis, shared by every replica.

Layout (one hash tag, so the scripts run on Redis Cluster too):
- `sre-ai:{semcache}:b:<bucket>`: a hash per context key (bucket = sha256 of the key), field =
  answer key, value = JSON {question, stored_at} + NUL + the float32 vector's bytes;
- `sre-ai:{semcache}:index`: a ZSET of every entry (`<bucket>:<answer key>`) scored by
  stored_at, for the global bound (oldest first out) and for age.
Expiry is by duration only (PEXPIRE of the bucket and of the index, refreshed by each add), never
by an absolute time computed from our clock: Redis expires by ITS clock. Entries older than the
lifetime by the adding replica's clock are trimmed by the add script (the scores are the
replicas' own clocks, compared only with each other) and skipped by `find`.

Every entry is also kept in a local in-memory tier of the same bounds, read only when Redis
fails: a Redis failure is a miss or the local answer, never an error (like RedisAnswerCache,
through the same DependencyGuard).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.cache.semantic import (
    BUCKET_MAX,
    MemorySemanticCache,
    SemanticEntry,
    SemanticLookup,
    Vector,
    best_match,
    lifetime_seconds,
)
from app.clock import Clock
from app.config import CachePolicy
from app.errors import CircuitOpenError
from app.resilience.dependency import DependencyGuard, guarded

log = logging.getLogger("app.cache")
PREFIX = "sre-ai:{semcache}:"
INDEX = PREFIX + "index"
_FAILURES = (RedisError, OSError, CircuitOpenError)

# KEYS: bucket hash, index. ARGV: field, value, stored_at, lifetime ms, max entries, oldest
# stored_at kept, bucket key prefix. Returns how many entries were evicted for room.
_ADD = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local member = string.sub(KEYS[1], string.len(ARGV[7]) + 1) .. ':' .. ARGV[1]
redis.call('ZADD', KEYS[2], ARGV[3], member)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local function drop(members)
  for _, m in ipairs(members) do
    local sep = string.find(m, ':', 1, true)
    redis.call('HDEL', ARGV[7] .. string.sub(m, 1, sep - 1), string.sub(m, sep + 1))
    redis.call('ZREM', KEYS[2], m)
  end
end
drop(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[6]))
local evicted = 0
local bucket_id = string.sub(KEYS[1], string.len(ARGV[7]) + 1)
local tries = 0
while redis.call('HLEN', KEYS[1]) > tonumber(ARGV[8]) and tries < 4 do
  tries = tries + 1
  local f = redis.call('HRANDFIELD', KEYS[1])
  if f and f ~= ARGV[1] then
    drop({bucket_id .. ':' .. f})
    evicted = evicted + 1
  end
end
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if extra > 0 then
  drop(redis.call('ZRANGE', KEYS[2], 0, extra - 1))
  return evicted + extra
end
return evicted
"""
# KEYS: bucket hash, index. ARGV: bucket id, answer key or '' for the whole bucket.
_REMOVE = """
local fields = {ARGV[2]}
if ARGV[2] == '' then fields = redis.call('HKEYS', KEYS[1]) end
for _, f in ipairs(fields) do
  redis.call('HDEL', KEYS[1], f)
  redis.call('ZREM', KEYS[2], ARGV[1] .. ':' .. f)
end
return #fields
"""


def bucket_id(context_key: str) -> str:
    return hashlib.sha256(context_key.encode()).hexdigest()[:32]


def encode(entry: SemanticEntry) -> bytes:
    header = json.dumps({"question": entry.question, "stored_at": entry.stored_at})
    return header.encode() + b"\0" + entry.vector.astype("<f4").tobytes()


def decode(answer_key: str, raw: bytes) -> SemanticEntry:
    header, _, vector = raw.partition(b"\0")
    data = json.loads(header)
    return SemanticEntry(answer_key, data["question"],
                         np.frombuffer(vector, dtype="<f4").astype(np.float32),
                         float(data["stored_at"]))


class RedisSemanticCache:
    def __init__(
        self,
        redis: Redis,
        policy: CachePolicy,
        clock: Clock,
        on_error: Callable[[], None] | None = None,
        guard: DependencyGuard | None = None,
    ) -> None:
        self._redis = redis
        self._policy = policy
        self._clock = clock
        self._on_error = on_error or (lambda: None)
        self._guard = guard
        self._add = redis.register_script(_ADD)
        self._remove = redis.register_script(_REMOVE)
        self._local = MemorySemanticCache(policy, clock)

    def configure(self, policy: CachePolicy) -> None:
        self._policy = policy
        self._local.configure(policy)

    def _failed(self, op: str, exc: Exception) -> None:
        if not isinstance(exc, CircuitOpenError):  # the breaker logs its own transitions
            log.warning("semantic cache unavailable",
                        extra={"fields": {"op": op, "error": str(exc)}})
        self._on_error()

    async def find(self, context_key: str, question: str, vector: Vector,
                   threshold: float) -> SemanticLookup:
        try:
            raw: Any = await guarded(
                self._guard, self._redis.hgetall(PREFIX + "b:" + bucket_id(context_key)))
        except _FAILURES as exc:
            self._failed("find", exc)
            return await self._local.find(context_key, question, vector, threshold)
        oldest = self._clock.now().timestamp() - lifetime_seconds(self._policy)
        entries = []
        for key, value in raw.items():
            try:
                entry = decode(key.decode(), value)
            except (ValueError, KeyError, UnicodeDecodeError):
                continue  # written by another version: a miss, not an error
            if entry.stored_at > oldest:
                entries.append(entry)
        return best_match(entries, question, vector, threshold)

    async def add(self, context_key: str, answer_key: str, question: str,
                  vector: Vector) -> int:
        if self._policy.semantic_max_entries == 0:
            return 0
        evicted_locally = await self._local.add(context_key, answer_key, question, vector)
        now = self._clock.now().timestamp()
        entry = SemanticEntry(answer_key, question, np.asarray(vector, dtype=np.float32), now)
        lifetime = lifetime_seconds(self._policy)
        bucket = bucket_id(context_key)
        try:
            evicted = await guarded(self._guard, self._add(
                keys=[PREFIX + "b:" + bucket, INDEX],
                args=[answer_key, encode(entry), repr(now), max(int(lifetime * 1000), 1),
                      self._policy.semantic_max_entries, repr(now - lifetime), PREFIX + "b:",
                      BUCKET_MAX],
            ))
        except _FAILURES as exc:
            self._failed("add", exc)
            return evicted_locally
        return int(evicted)

    async def _drop(self, context_key: str, answer_key: str, op: str) -> None:
        bucket = bucket_id(context_key)
        try:
            await guarded(self._guard, self._remove(keys=[PREFIX + "b:" + bucket, INDEX],
                                             args=[bucket, answer_key]))
        except _FAILURES as exc:
            self._failed(op, exc)

    async def remove(self, context_key: str, answer_key: str) -> None:
        await self._local.remove(context_key, answer_key)
        await self._drop(context_key, answer_key, "remove")

    async def invalidate(self, context_key: str) -> None:
        await self._local.invalidate(context_key)
        await self._drop(context_key, "", "invalidate")

    async def aclose(self) -> None:
        """The Redis connection is owned by whoever created it; the local tier is ours."""
        await self._local.aclose()
