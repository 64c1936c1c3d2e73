"""The semantic tier in Redis, shared by every replica.

Layout (one hash tag, so the scripts run on Redis Cluster too), per bucket id X (sha256 of the
context key):
- `sre-ai:{semcache}:2:b:X`: a hash, field = answer key, value = JSON {question, stored_at} +
  NUL + the float32 vector's bytes;
- `...:2:v:X`: the bucket's version, a hash {epoch, head}: epoch a random token set by the add
  that created the bucket, head the number of changes to it;
- `...:2:l:X`: the log of those changes (answer keys, newest last, the last LOG_MAX kept);
- `...:2:index`: a ZSET of every entry (`X:<answer key>`) scored by stored_at, for the global
  bound (oldest first out) and for age.
Every script that changes a bucket bumps its head and logs the answer key in the same atomic
step, so a replica's decoded copy (app/cache/semantic_mirror.py) is brought up to date by one
round trip per lookup that returns only what changed. (`2:`: the layout of the first version,
read whole by HGETALL, had no version: replicas of the two versions do not share a tier while a
rollout runs, rather than miss each other's changes.)
Expiry is by duration only (PEXPIRE of the bucket's keys and of the index, refreshed by each
add), never by an absolute time computed from our clock: Redis expires by ITS clock. Entries
older than the lifetime by the adding replica's clock are trimmed by the add script (the scores
are the replicas' own clocks, compared only with each other) and skipped by `find`.

Every entry is also kept in a local in-memory tier of the same bounds, read only when Redis
fails: a Redis failure is a miss or the local answer, never an error (like RedisAnswerCache,
through the same DependencyGuard).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
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
    lifetime_seconds,
)
from app.cache.semantic_bucket import Bucket
from app.cache.semantic_mirror import Mirrors, StaleCopy, encode
from app.clock import Clock
from app.config import CachePolicy
from app.errors import CircuitOpenError
from app.resilience.dependency import DependencyGuard, guarded

log = logging.getLogger("app.cache")
PREFIX = "sre-ai:{semcache}:2:"
INDEX = PREFIX + "index"
LOG_MAX = 4 * BUCKET_MAX  # changes a copy may lag behind and still get a delta
_FAILURES = (RedisError, OSError, CircuitOpenError)

# ARGV[1] of both writers: the key prefix. Logs a change of answer keys `fields` of bucket `id`.
_LOG = """
local function changed(id, fields)
  local version = ARGV[1] .. 'v:' .. id
  if redis.call('EXISTS', version) == 0 then return end  -- gone: every copy is stale anyway
  local log = ARGV[1] .. 'l:' .. id
  if redis.call('RPUSH', log, unpack(fields)) == #fields then  -- a new log: the version's TTL
    local ttl = redis.call('PTTL', version)
    if ttl > 0 then redis.call('PEXPIRE', log, ttl) end
  end
  redis.call('LTRIM', log, -LOG_MAX, -1)
  redis.call('HINCRBY', version, 'head', #fields)
end
""".replace("LOG_MAX", str(LOG_MAX))
# KEYS: bucket hash, index, version, log. ARGV: prefix, bucket id, field, value, stored_at,
# lifetime ms, max entries, oldest stored_at kept, BUCKET_MAX, epoch if the bucket is new.
# Returns how many entries were evicted for room.
_ADD = _LOG + """
redis.call('HSETNX', KEYS[3], 'epoch', ARGV[10])
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
changed(ARGV[2], {ARGV[3]})
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[2] .. ':' .. ARGV[3])
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ARGV[6]) end
local function drop(members)
  for _, m in ipairs(members) do
    local sep = string.find(m, ':', 1, true)
    local id, field = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)
    if redis.call('HDEL', ARGV[1] .. 'b:' .. id, field) == 1 then changed(id, {field}) end
    redis.call('ZREM', KEYS[2], m)
  end
end
drop(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[8]))
local evicted = 0
local tries = 0
while redis.call('HLEN', KEYS[1]) > tonumber(ARGV[9]) and tries < 4 do
  tries = tries + 1
  local f = redis.call('HRANDFIELD', KEYS[1])
  if f and f ~= ARGV[3] then
    drop({ARGV[2] .. ':' .. f})
    evicted = evicted + 1
  end
end
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[7])
if extra > 0 then
  drop(redis.call('ZRANGE', KEYS[2], 0, extra - 1))
  return evicted + extra
end
return evicted
"""
# KEYS: bucket hash, index, version, log. ARGV: prefix, bucket id, answer key or '' for the
# whole bucket (deleted with its version: the next add starts a new epoch).
_REMOVE = _LOG + """
if ARGV[3] == '' then
  local fields = redis.call('HKEYS', KEYS[1])
  for _, f in ipairs(fields) do redis.call('ZREM', KEYS[2], ARGV[2] .. ':' .. f) end
  redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
  return #fields
end
if redis.call('HDEL', KEYS[1], ARGV[3]) == 1 then changed(ARGV[2], {ARGV[3]}) end
redis.call('ZREM', KEYS[2], ARGV[2] .. ':' .. ARGV[3])
return 1
"""
# KEYS: bucket hash, version, log. ARGV: the epoch and head of the caller's copy ('' and -1
# without one). Returns {} (no bucket), {epoch, head} (the copy is current), or {epoch, head,
# [field, value or nil, ...], 'delta' | 'full'}: the entries changed since head, or all.
_LOOKUP = """
local version = redis.call('HMGET', KEYS[2], 'epoch', 'head')
if not version[1] then return {} end
local head = tonumber(version[2] or '0')
local since = tonumber(ARGV[2])
if version[1] == ARGV[1] and since == head then return {version[1], head} end
local n = head - since
if version[1] ~= ARGV[1] or n < 0 or n > redis.call('LLEN', KEYS[3]) then
  return {version[1], head, redis.call('HGETALL', KEYS[1]), 'full'}
end
local seen, fields = {}, {}
for _, f in ipairs(redis.call('LRANGE', KEYS[3], -n, -1)) do
  if not seen[f] then seen[f] = true; fields[#fields + 1] = f end
end
local values = redis.call('HMGET', KEYS[1], unpack(fields))
local out = {}
for i, f in ipairs(fields) do out[2 * i - 1] = f; out[2 * i] = values[i] end
return {version[1], head, out, 'delta'}
"""


def bucket_id(context_key: str) -> str:
    return hashlib.sha256(context_key.encode()).hexdigest()[:32]


def _keys(bucket: str) -> list[str]:
    """The bucket hash, the index, the version and the log."""
    return [PREFIX + "b:" + bucket, INDEX, PREFIX + "v:" + bucket, PREFIX + "l:" + bucket]


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
        self._lookup = redis.register_script(_LOOKUP)
        self._local = MemorySemanticCache(policy, clock)
        self._mirrors = Mirrors(policy.semantic_max_entries)

    def configure(self, policy: CachePolicy) -> None:
        self._policy = policy
        self._local.configure(policy)
        self._mirrors.configure(policy.semantic_max_entries)

    def _failed(self, op: str, exc: Exception) -> None:
        if not isinstance(exc, CircuitOpenError):  # the breaker logs its own transitions
            log.warning("semantic cache unavailable",
                        extra={"fields": {"op": op, "error": str(exc)}})
        self._on_error()

    async def _current(self, bucket: str) -> Bucket | None:
        """This replica's copy of the bucket, brought up to date in one round trip (two when
        another lookup replaced the copy while this one waited for Redis)."""
        for _ in range(2):
            epoch, head = self._mirrors.version(bucket)
            keys = _keys(bucket)
            reply: Any = await guarded(self._guard, self._lookup(
                keys=[keys[0], keys[2], keys[3]], args=[epoch, head]))
            try:
                return self._mirrors.apply(bucket, reply, head)
            except StaleCopy:
                self._mirrors.drop(bucket)
        return None  # replaced twice in a row: a miss this once

    async def find(self, context_key: str, question: str, vector: Vector,
                   threshold: float) -> SemanticLookup:
        try:
            bucket = await self._current(bucket_id(context_key))
        except _FAILURES as exc:
            self._failed("find", exc)
            return await self._local.find(context_key, question, vector, threshold)
        if bucket is None:
            return SemanticLookup()
        oldest = self._clock.now().timestamp() - lifetime_seconds(self._policy)
        return bucket.match(question, vector, threshold, newer_than=oldest)

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
                keys=_keys(bucket),
                args=[PREFIX, bucket, answer_key, encode(entry), repr(now),
                      max(int(lifetime * 1000), 1), self._policy.semantic_max_entries,
                      repr(now - lifetime), BUCKET_MAX, uuid.uuid4().hex],
            ))
        except _FAILURES as exc:
            self._failed("add", exc)
            return evicted_locally
        return int(evicted)

    async def _drop(self, context_key: str, answer_key: str, op: str) -> None:
        bucket = bucket_id(context_key)
        try:
            await guarded(self._guard, self._remove(keys=_keys(bucket),
                                                    args=[PREFIX, bucket, answer_key]))
        except _FAILURES as exc:
            self._failed(op, exc)

    async def remove(self, context_key: str, answer_key: str) -> None:
        await self._local.remove(context_key, answer_key)
        await self._drop(context_key, answer_key, "remove")

    async def invalidate(self, context_key: str) -> None:
        await self._local.invalidate(context_key)
        await self._drop(context_key, "", "invalidate")

    async def aclose(self) -> None:
        """The Redis connection is owned by whoever created it; the local tier and the copies
        are ours."""
        await self._local.aclose()
        self._mirrors.clear()
