"""The Redis store of the version before running totals: its reserve and release scripts, which
summed every hold of each window on every reserve. Tests play an old replica with it (a rolling
upgrade: old and new replicas on one Redis), and bench/ledger_outstanding.py measures it."""

from __future__ import annotations

from collections.abc import Sequence

from app.budget.stores.base import Slot, SlotUsage
from app.budget.stores.redis import RedisStore

_PRELUDE_BEFORE = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function reserved_sum(key)
  local total = 0
  for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    total = total + tonumber(string.match(member, ':(%d+)$'))
  end
  return total
end
"""

RESERVE_BEFORE = _PRELUDE_BEFORE + """
local amount = tonumber(ARGV[3])
local n = #KEYS / 2
for i = 1, n do
  local res = KEYS[2 * i]
  redis.call('ZREMRANGEBYSCORE', res, '-inf', now)
  local spent = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  if spent + reserved_sum(res) + amount > tonumber(ARGV[2 + 2 * i]) then
    return i
  end
end
local expires = now + tonumber(ARGV[1])
for i = 1, n do
  local res = KEYS[2 * i]
  redis.call('ZADD', res, expires, ARGV[2])
  redis.call('EXPIRE', res, ARGV[3 + 2 * i])
end
return 0
"""
SETTLE_BEFORE = _PRELUDE_BEFORE + """
local settled = KEYS[1]
redis.call('ZREMRANGEBYSCORE', settled, '-inf', now)
if redis.call('ZSCORE', settled, ARGV[1]) then
  return 0
end
redis.call('ZADD', settled, now + tonumber(ARGV[4]), ARGV[1])
redis.call('EXPIRE', settled, ARGV[4])
local n = (#KEYS - 1) / 2
for i = 1, n do
  local spent = KEYS[2 * i]
  redis.call('ZREM', KEYS[2 * i + 1], ARGV[2])
  redis.call('INCRBY', spent, ARGV[3])
  redis.call('EXPIRE', spent, ARGV[4 + i])
end
return 1
"""

RELEASE_BEFORE = """
for i = 1, #KEYS / 2 do
  redis.call('ZREM', KEYS[2 * i], ARGV[1])
end
return 0
"""


class RedisStoreBefore(RedisStore):
    """The Redis store with the previous scripts and key layout (spent, res per window): reserve,
    settle and release as an old replica runs them (no snapshot)."""

    def __init__(self, url: str, *, prefix: str) -> None:
        super().__init__(url, prefix=prefix)
        self._reserve = self._redis.register_script(RESERVE_BEFORE)
        self._settle = self._redis.register_script(SETTLE_BEFORE)
        self._release = self._redis.register_script(RELEASE_BEFORE)

    async def snapshot(self, slots: Sequence[Slot], now: float) -> list[SlotUsage]:
        raise NotImplementedError("read the ledger through the current RedisStore")

    def _window_keys(self, slots: Sequence[Slot]) -> list[str]:
        return [f"{self._tag}:{kind}:{s.key}" for s in slots for kind in ("spent", "res")]
