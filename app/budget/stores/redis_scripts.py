"""The Lua scripts of the Redis ledger store: one per operation, so each is atomic on the server.

Layout (every key carries the same hash tag, e.g. `{sre-ai:ledger}`, so one script's keys live
in one Redis Cluster slot):
  <tag>:spent:<window>:<period>   integer nano-USD (INCRBY); EXPIRE after the period closes
  <tag>:res:<window>:<period>     sorted set of "<id>:<amount_nano>" scored by expiry
  <tag>:settled                   sorted set of settled ids scored by "remember until"

Time: every expiry is judged by ONE clock, the Redis server's (`TIME` inside the script). The
caller sends durations only (hold for N s, keep for N s), never an absolute time, so replicas
with skewed clocks (or a test's pinned clock) can neither make Redis drop a key early nor purge
another replica's live hold or settled id. The window a spend lands in is still named from the
caller's clock (`hourly:2026-11-27T06`): that names a calendar period, it expires nothing.

Window keys arrive in pairs, KEYS[2i-1] = spent, KEYS[2i] = res. Amounts stay below 2^53 nano-USD
(9 million USD), so Lua's doubles hold them exactly.
"""

from __future__ import annotations

_PRELUDE = """
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

# ARGV: hold_seconds, member, amount, then per window: limit, keep_seconds
# Returns 0 when admitted, else the 1-based index of the first window that would overflow.
RESERVE = (
    _PRELUDE
    + """
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
)

# KEYS[1] = settled set, then window pairs from KEYS[2].
# ARGV: id, member, actual, remember_seconds, then per window: keep_seconds.
# Returns 1 when recorded, 0 when this id was already settled.
SETTLE = (
    _PRELUDE
    + """
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
)

# KEYS: window pairs. ARGV: member.
RELEASE = """
for i = 1, #KEYS / 2 do
  redis.call('ZREM', KEYS[2 * i], ARGV[1])
end
return 0
"""

# KEYS: window pairs. Returns {spent1, reserved1, spent2, reserved2, ...}.
SNAPSHOT = (
    _PRELUDE
    + """
local out = {}
for i = 1, #KEYS / 2 do
  local res = KEYS[2 * i]
  redis.call('ZREMRANGEBYSCORE', res, '-inf', now)
  out[#out + 1] = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  out[#out + 1] = reserved_sum(res)
end
return out
"""
)
