"""Exact-match answer cache, bounded in entries and age: in memory (one replica) or in Redis
(shared by every replica).

Keys hash the normalised question, the model and the prompt version, so the cache is consulted
before retrieval. Each entry records the corpus digest and the digests of the runbook sections
it was built on; the pipeline serves it without searching while the corpus is unchanged, and
after a runbook change only if the question still retrieves those very sections
(app/services/answer.py `_lookup`): an edit never serves an answer built from the old text, and a
prompt change never matches. Entries are
fresh for `ttl_seconds`, then stale (served only by the degradation ladder) for
`stale_ttl_seconds`, then gone. A broken cache is a miss, never an error for the caller.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.cache.comparisons import spelled_out
from app.clock import Clock
from app.config import CachePolicy
from app.errors import CircuitOpenError
from app.llm.prompt import PROMPT_VERSION
from app.resilience.dependency import DependencyGuard, guarded

log = logging.getLogger("app.cache")
_NOT_WORD = re.compile(r"[^\w]+")


def normalise_question(question: str) -> str:
    """Case, spacing and punctuation do not make a different question; a comparison does
    ("restarts > 5" is not "restarts < 5": comparisons.py)."""
    return _NOT_WORD.sub(" ", spelled_out(question).lower()).strip()


def cache_key(question: str, model: str) -> str:
    """The question as asked, for one model and prompt version. Looked up BEFORE retrieval (no
    search, no embedding on a hit); the entry carries the digests of the runbook sections it
    was built on, and the caller serves it only while those sections are unchanged."""
    material = "\0".join((normalise_question(question), model, PROMPT_VERSION))
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    answer: str
    model: str
    sources: tuple[str, ...]
    stored_at: float  # epoch seconds (wall clock: shared across replicas)
    sections: tuple[str, ...] = ()  # digests of the runbook sections it was built on
    corpus: str = ""  # digest of the runbook corpus it was answered from
    cost_usd: float = 0.0  # what producing it cost: what a hit saves
    # (runbook_id, section, quote, answer part) per citation, and the grounded share: a hit
    # is served with the evidence the answer was stored with.
    citations: tuple[tuple[str, str, str, str], ...] = ()
    grounded_share: float | None = None


@dataclass(frozen=True)
class CacheLookup:
    entry: CachedAnswer
    stale: bool


class AnswerCache(Protocol):
    async def get(self, key: str, *, allow_stale: bool) -> CacheLookup | None: ...
    async def put(self, key: str, entry: CachedAnswer) -> int:
        """Store; returns how many entries were evicted to stay within max_entries."""
        ...
    def configure(self, policy: CachePolicy) -> None: ...
    async def aclose(self) -> None: ...


def _classify(
    entry: CachedAnswer, now: float, policy: CachePolicy, allow_stale: bool
) -> CacheLookup | None:
    age = now - entry.stored_at
    if age < policy.ttl_seconds:
        return CacheLookup(entry, stale=False)
    if allow_stale and age < policy.ttl_seconds + policy.stale_ttl_seconds:
        return CacheLookup(entry, stale=True)
    return None


class MemoryAnswerCache:
    def __init__(self, policy: CachePolicy, clock: Clock) -> None:
        self._policy = policy
        self._clock = clock
        self._entries: OrderedDict[str, CachedAnswer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def configure(self, policy: CachePolicy) -> None:
        self._policy = policy
        self._evict()

    def _evict(self) -> int:
        evicted = 0
        while len(self._entries) > self._policy.max_entries:
            self._entries.popitem(last=False)
            evicted += 1
        return evicted

    async def get(self, key: str, *, allow_stale: bool) -> CacheLookup | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self._clock.now().timestamp()
        found = _classify(entry, now, self._policy, allow_stale)
        if found is None and now - entry.stored_at >= (
            self._policy.ttl_seconds + self._policy.stale_ttl_seconds
        ):
            del self._entries[key]
        elif found is not None:
            self._entries.move_to_end(key)
        return found

    async def put(self, key: str, entry: CachedAnswer) -> int:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        return self._evict()

    async def aclose(self) -> None:
        self._entries.clear()


# Both keys share one hash tag so the script runs on Redis Cluster too.
_PREFIX = "sre-ai:{cache}:"
_INDEX = _PREFIX + "index"
_PUT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, extra - 1)
  for _, k in ipairs(old) do redis.call('DEL', k) end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
end
return extra
"""
# A read that finds the entry moves it to the young end of the index (ZADD XX: never re-adds
# a key the trim has dropped), so the trim evicts the least recently USED, as the memory tier
# does. It was the least recently stored: a question asked all through an incident was evicted
# by the next max_entries distinct ones, and then paid a search and a semantic lookup on every
# repeat (measured: bench/results/throughput.md, "The table above").
_GET = """
local raw = redis.call('GET', KEYS[1])
if raw then redis.call('ZADD', KEYS[2], 'XX', ARGV[1], KEYS[1]) end
return raw
"""


class RedisAnswerCache:
    """Shared cache. Bounded by a per-entry expiry and an index trimmed to max_entries, least
    recently used first.

    Every answer is also kept in a local in-memory tier of the same bounds, read only when
    Redis fails: the ledger shares that Redis, so during an outage (paid calls refused) the
    answers this replica has stored keep being served (the ladder's cached rung).
    With `guard` (the server's breaker, shared with the ledger), an outage already detected
    goes straight to the local tier instead of waiting a socket timeout per lookup."""

    def __init__(
        self,
        redis: Redis,
        policy: CachePolicy,
        clock: Clock,
        on_error: Callable[[], None] | None = None,
        guard: DependencyGuard | None = None,
    ) -> None:
        self._redis = redis
        self._guard = guard
        self._policy = policy
        self._clock = clock
        self._on_error = on_error or (lambda: None)
        self._put = redis.register_script(_PUT)
        self._get = redis.register_script(_GET)
        self._local = MemoryAnswerCache(policy, clock)

    def configure(self, policy: CachePolicy) -> None:
        self._policy = policy
        self._local.configure(policy)

    def _failed(self, op: str, exc: Exception) -> None:
        if not isinstance(exc, CircuitOpenError):  # the breaker logs its own transitions
            log.warning("answer cache unavailable",
                        extra={"fields": {"op": op, "error": str(exc)}})
        self._on_error()

    async def get(self, key: str, *, allow_stale: bool) -> CacheLookup | None:
        try:
            raw: Any = await guarded(self._guard, self._get(
                keys=[_PREFIX + key, _INDEX], args=[self._clock.now().timestamp()]))
        except (RedisError, OSError, CircuitOpenError) as exc:
            self._failed("get", exc)
            return await self._local.get(key, allow_stale=allow_stale)
        if raw is None:
            return None
        try:
            entry = _decoded(raw)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Another version's layout, or bytes someone wrote by hand: a miss (the paid
            # answer's put overwrites it), counted and logged, never the caller's error.
            log.warning("answer cache entry unreadable: treated as a miss",
                        extra={"fields": {"op": "get", "error": repr(exc)}})
            self._on_error()
            return None
        return _classify(entry, self._clock.now().timestamp(), self._policy, allow_stale)

    async def put(self, key: str, entry: CachedAnswer) -> int:
        """Evictions counted are the shared tier's (the local copy is this replica's spare)."""
        if self._policy.max_entries == 0:
            return 0
        await self._local.put(key, entry)
        lifetime_ms = int((self._policy.ttl_seconds + self._policy.stale_ttl_seconds) * 1000)
        try:
            extra = await guarded(self._guard, self._put(
                keys=[_PREFIX + key, _INDEX],
                args=[json.dumps(asdict(entry)), lifetime_ms, entry.stored_at,
                      self._policy.max_entries],
            ))
        except (RedisError, OSError, CircuitOpenError) as exc:
            self._failed("put", exc)
            return 0
        return max(int(extra), 0)

    async def aclose(self) -> None:
        """The Redis connection is owned by whoever created it."""


def _decoded(raw: bytes | str) -> CachedAnswer:
    data = json.loads(raw)
    share = data.get("grounded_share")
    return CachedAnswer(str(data["answer"]), str(data["model"]), tuple(data["sources"]),
                        float(data["stored_at"]), tuple(data.get("sections", ())),
                        str(data.get("corpus", "")), float(data.get("cost_usd", 0.0)),
                        tuple(_citation(c) for c in data.get("citations", ())),
                        None if share is None else float(share))


def _citation(raw: Any) -> tuple[str, str, str, str]:
    runbook_id, section, quote, text = (str(x) for x in raw)
    return runbook_id, section, quote, text
