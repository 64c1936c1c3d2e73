"""The Lua scripts of the Redis ledger store: one per operation, so each is atomic on the server.

Layout (every key carries the same hash tag, e.g. `{sre-ai:ledger}`, so one script's keys live
in one Redis Cluster slot; docs/architecture.md, "Redis Cluster: how the keys spread"):
  <tag>:spent:<window>:<period>   integer nano-USD (INCRBY); EXPIRE after the period closes
  <tag>:res:<window>:<period>     sorted set of "<id>:<amount_nano>" scored by expiry
  <tag>:rsum:<window>:<period>    integer nano-USD: the sum of the amounts in `res` (running total)
  <tag>:settled                   sorted set of settled ids scored by "remember until"

Cost: every script does a fixed number of O(log n) commands per window, whatever the number of
reservations outstanding (n). The running total changes in the same script as the set, and only
by what the set really gained or lost (ZADD / ZREM return 1), so a script run twice with the
same id never counts twice and a settle after the hold was reclaimed as expired subtracts
nothing. Expired holds are reclaimed lazily, at most RECLAIM_BATCH per window per script
(ZRANGEBYSCORE ... LIMIT, then ZREM): a burst of expiries (a dead replica's holds) is worked
off by the next calls, and until then the total over-counts (fail safe: it can refuse, never
overspend). A set with no total (written by a version before running totals) is summed ONCE
into a new total; a total whose set is gone is dropped.

Time: every expiry is judged by ONE clock, the Redis server's (`TIME` inside the script). The
caller sends durations only (hold for N s, keep for N s), never an absolute time, so replicas
with skewed clocks (or a test's pinned clock) can neither make Redis drop a key early nor purge
another replica's live hold or settled id. The window a spend lands in is still named from the
caller's clock (`hourly:2026-11-27T06`): that names a calendar period, it expires nothing.

Window keys arrive in triples, KEYS[3i-2] = spent, KEYS[3i-1] = res, KEYS[3i] = rsum. Amounts
stay below 2^53 nano-USD (9 million USD), so Lua's doubles hold them exactly.
"""

from __future__ import annotations

# Expired holds reclaimed per window per script: bounds one script's work (and so how long it
# blocks every other client of the shard). Far above the rate holds expire at (at most one per
# reserve), so a backlog drains within backlog/RECLAIM_BATCH calls.
RECLAIM_BATCH = 100

_PRELUDE = f"""
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function amount_of(member)
  return tonumber(string.match(member, ':(%d+)$'))
end
-- Integers go to Redis as digits: a Lua number would be sent as '%.14g' (1e+15 for 10^15).
local function digits(x)
  return string.format('%.0f', x)
end
-- The running total of a window's holds. Summing the set happens only when it has no total yet.
local function reserved_total(res, rsum)
  local total = redis.call('GET', rsum)
  if redis.call('EXISTS', res) == 0 then
    if total then redis.call('DEL', rsum) end
    return 0
  end
  if total then return tonumber(total) end
  local sum = 0
  for _, member in ipairs(redis.call('ZRANGE', res, 0, -1)) do
    sum = sum + amount_of(member)
  end
  redis.call('SET', rsum, digits(sum))
  local ttl = redis.call('PTTL', res)
  if ttl > 0 then redis.call('PEXPIRE', rsum, ttl) end
  return sum
end
-- Drop up to {RECLAIM_BATCH} expired holds; returns the amount they held.
local function reclaim(res, rsum)
  local expired = redis.call('ZRANGEBYSCORE', res, '-inf', now, 'LIMIT', 0, {RECLAIM_BATCH})
  if #expired == 0 then return 0 end
  local sum = 0
  for _, member in ipairs(expired) do sum = sum + amount_of(member) end
  redis.call('ZREM', res, unpack(expired))
  redis.call('DECRBY', rsum, digits(sum))
  return sum
end
-- Drop one hold if it is still there (not yet settled, released or reclaimed).
local function drop(res, rsum, member)
  if redis.call('ZREM', res, member) == 1 and redis.call('EXISTS', rsum) == 1 then
    redis.call('DECRBY', rsum, string.match(member, ':(%d+)$'))
  end
end
"""

# ARGV: hold_seconds, member, amount, then per window: limit, keep_seconds
# Returns 0 when admitted, else the 1-based index of the first window that would overflow.
# A repeated reserve of a member already held (a retry) is admitted without counting it again.
RESERVE = (
    _PRELUDE
    + """
local member = ARGV[2]
local amount = tonumber(ARGV[3])
local n = #KEYS / 3
for i = 1, n do
  local res, rsum = KEYS[3 * i - 1], KEYS[3 * i]
  local reserved = reserved_total(res, rsum) - reclaim(res, rsum)
  local more = amount
  if redis.call('ZSCORE', res, member) then more = 0 end
  local spent = tonumber(redis.call('GET', KEYS[3 * i - 2]) or '0')
  if spent + reserved + more > tonumber(ARGV[2 + 2 * i]) then
    return i
  end
end
local expires = now + tonumber(ARGV[1])
for i = 1, n do
  local res, rsum = KEYS[3 * i - 1], KEYS[3 * i]
  if redis.call('ZADD', res, expires, member) == 1 then
    redis.call('INCRBY', rsum, ARGV[3])
  end
  redis.call('EXPIRE', res, ARGV[3 + 2 * i])
  redis.call('EXPIRE', rsum, ARGV[3 + 2 * i])
end
return 0
"""
)

# KEYS[1] = settled set, then window triples from KEYS[2].
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
local n = (#KEYS - 1) / 3
for i = 1, n do
  local spent = KEYS[3 * i - 1]
  drop(KEYS[3 * i], KEYS[3 * i + 1], ARGV[2])
  redis.call('INCRBY', spent, ARGV[3])
  redis.call('EXPIRE', spent, ARGV[4 + i])
end
return 1
"""
)

# KEYS: window triples. ARGV: member.
RELEASE = (
    _PRELUDE
    + """
for i = 1, #KEYS / 3 do
  drop(KEYS[3 * i - 1], KEYS[3 * i], ARGV[1])
end
return 0
"""
)

# KEYS: window triples. Returns {spent1, reserved1, spent2, reserved2, ...}.
SNAPSHOT = (
    _PRELUDE
    + """
local out = {}
for i = 1, #KEYS / 3 do
  local res, rsum = KEYS[3 * i - 1], KEYS[3 * i]
  local reserved = reserved_total(res, rsum) - reclaim(res, rsum)
  out[#out + 1] = tonumber(redis.call('GET', KEYS[3 * i - 2]) or '0')
  out[#out + 1] = reserved
end
return out
"""
)
