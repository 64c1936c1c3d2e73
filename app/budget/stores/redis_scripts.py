"""The Lua scripts of the Redis ledger store: one per operation, so each is atomic on the server.

Layout (every key carries the same hash tag, e.g. `{sre-ai:ledger}`, so one script's keys live
in one Redis Cluster slot; docs/architecture.md, "Redis Cluster: how the keys spread"):
  <tag>:spent:<window>:<period>   integer nano-USD (INCRBY); EXPIRE after the period closes
  <tag>:holds:<window>:<period>   sorted set of "<id>:<amount_nano>" scored by expiry
  <tag>:rsum:<window>:<period>    integer nano-USD: the sum of the amounts in `holds`
  <tag>:res:<window>:<period>     the same set as written by the version before running totals
  <tag>:settled                   sorted set of settled ids scored by "remember until"

Cost: every script does a fixed number of O(log n) commands per window, whatever the number of
reservations outstanding (n), once no holds of the previous version remain (see Upgrades). The
running total changes in the same script as the set, and only by what the set really gained or
lost (ZADD / ZREM return 1), so a script run twice with the same id never counts twice and a
settle after the hold was reclaimed as expired subtracts nothing. Expired holds are reclaimed
lazily, at most RECLAIM_BATCH per window per script (ZRANGEBYSCORE ... LIMIT, then ZREM): a
burst of expiries (a dead replica's holds) is worked off by the next calls, and until then the
total over-counts (fail safe: it can refuse, never overspend). A set whose total is missing
(evicted, deleted by hand) is summed once into a new one; a total whose set is gone is dropped.

Upgrades: the previous version kept holds in `res` and summed it on every call. Its replicas may
still run beside these during a rolling upgrade, so the totals never cover `res` (an old
replica adds, removes and purges there without touching a total, which would make any total of
it drift for the rest of the period). These scripts count `res` by summing it, purge its expired
holds, and remove settled or released members from it; once its last hold has gone the key is
gone and that costs one EXISTS. During the overlap old replicas do not see the new `holds` (they
may admit past a limit by at most the new replicas' holds in flight); new replicas see both.

Time: every expiry is judged by ONE clock, the Redis server's (`TIME` inside the script). The
caller sends durations only (hold for N s, keep for N s), never an absolute time, so replicas
with skewed clocks (or a test's pinned clock) can neither make Redis drop a key early nor purge
another replica's live hold or settled id. The window a spend lands in is still named from the
caller's clock (`hourly:2026-11-27T06`): that names a calendar period, it expires nothing.

Window keys arrive in fours: KEYS[4i-3] = spent, [4i-2] = holds, [4i-1] = rsum, [4i] = res. Amounts
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
local function reserved_total(holds, rsum)
  local total = redis.call('GET', rsum)
  if redis.call('EXISTS', holds) == 0 then
    if total then redis.call('DEL', rsum) end
    return 0
  end
  if total then return tonumber(total) end
  local sum = 0
  for _, member in ipairs(redis.call('ZRANGE', holds, 0, -1)) do
    sum = sum + amount_of(member)
  end
  redis.call('SET', rsum, digits(sum))
  local ttl = redis.call('PTTL', holds)
  if ttl > 0 then redis.call('PEXPIRE', rsum, ttl) end
  return sum
end
-- Drop up to {RECLAIM_BATCH} expired holds; returns the amount they held.
local function reclaim(holds, rsum)
  local expired = redis.call('ZRANGEBYSCORE', holds, '-inf', now, 'LIMIT', 0, {RECLAIM_BATCH})
  if #expired == 0 then return 0 end
  local sum = 0
  for _, member in ipairs(expired) do sum = sum + amount_of(member) end
  redis.call('ZREM', holds, unpack(expired))
  redis.call('DECRBY', rsum, digits(sum))
  return sum
end
-- Drop one hold if it is still there (not yet settled, released or reclaimed).
local function drop(holds, rsum, legacy, member)
  if redis.call('ZREM', holds, member) == 1 and redis.call('EXISTS', rsum) == 1 then
    redis.call('DECRBY', rsum, string.match(member, ':(%d+)$'))
  end
  redis.call('ZREM', legacy, member)
end
-- Live holds of the version before running totals (a rolling upgrade): summed, never totalled.
local function legacy_reserved(legacy)
  if redis.call('EXISTS', legacy) == 0 then return 0 end
  redis.call('ZREMRANGEBYSCORE', legacy, '-inf', now)
  local sum = 0
  for _, member in ipairs(redis.call('ZRANGE', legacy, 0, -1)) do
    sum = sum + amount_of(member)
  end
  return sum
end
-- Everything held in window i (KEYS[4i-3..4i]), expired holds reclaimed first.
local function reserved_in(i)
  local holds, rsum = KEYS[4 * i - 2], KEYS[4 * i - 1]
  return reserved_total(holds, rsum) - reclaim(holds, rsum) + legacy_reserved(KEYS[4 * i])
end
"""

# ARGV: hold_seconds, member, amount, then per window: limit, keep_seconds
# Returns 0 when admitted, else the 1-based index of the first window that would overflow.
# A repeated reserve of a member already held (a retry) is admitted without counting it again.
RESERVE = (
    _PRELUDE
    + """
local member = ARGV[2]
local n = #KEYS / 4
for i = 1, n do
  local more = tonumber(ARGV[3])
  if redis.call('ZSCORE', KEYS[4 * i - 2], member) then more = 0 end
  local spent = tonumber(redis.call('GET', KEYS[4 * i - 3]) or '0')
  if spent + reserved_in(i) + more > tonumber(ARGV[2 + 2 * i]) then
    return i
  end
end
local expires = now + tonumber(ARGV[1])
for i = 1, n do
  local holds, rsum = KEYS[4 * i - 2], KEYS[4 * i - 1]
  if redis.call('ZADD', holds, expires, member) == 1 then
    redis.call('INCRBY', rsum, ARGV[3])
  end
  redis.call('EXPIRE', holds, ARGV[3 + 2 * i])
  redis.call('EXPIRE', rsum, ARGV[3 + 2 * i])
end
return 0
"""
)

# KEYS[1] = settled set, then the windows' keys from KEYS[2].
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
for i = 1, (#KEYS - 1) / 4 do
  local spent = KEYS[4 * i - 2]
  drop(KEYS[4 * i - 1], KEYS[4 * i], KEYS[4 * i + 1], ARGV[2])
  redis.call('INCRBY', spent, ARGV[3])
  redis.call('EXPIRE', spent, ARGV[4 + i])
end
return 1
"""
)

# KEYS: the windows' keys. ARGV: member.
RELEASE = (
    _PRELUDE
    + """
for i = 1, #KEYS / 4 do
  drop(KEYS[4 * i - 2], KEYS[4 * i - 1], KEYS[4 * i], ARGV[1])
end
return 0
"""
)

# KEYS: the windows' keys. Returns {spent1, reserved1, spent2, reserved2, ...}.
SNAPSHOT = (
    _PRELUDE
    + """
local out = {}
for i = 1, #KEYS / 4 do
  local reserved = reserved_in(i)
  out[#out + 1] = tonumber(redis.call('GET', KEYS[4 * i - 3]) or '0')
  out[#out + 1] = reserved
end
return out
"""
)
