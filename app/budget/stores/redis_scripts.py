"""The Lua scripts of the Redis ledger store: one per operation, so each is atomic on the server.

Layout (every key carries the same hash tag, e.g. `{sre-ai:ledger}`, so one script's keys live
in one Redis Cluster slot):
  <tag>:spent:<window>:<period>   integer nano-USD (INCRBY), EXPIREAT after the period closes
  <tag>:res:<window>:<period>     sorted set of "<id>:<amount_nano>" scored by expiry (epoch s)
  <tag>:settled                   sorted set of settled ids scored by "remember until",
                                  EXPIREAT the latest of those
The amount lives in the member, so one structure per period holds a reservation: there is no
second key to keep in step. Expired members are removed (ZREMRANGEBYSCORE -inf now) at the start
of reserve and snapshot. "now" always comes from the caller's clock, never Redis TIME.

Window keys arrive in pairs, KEYS[2i-1] = spent, KEYS[2i] = res. Amounts stay below 2^53 nano-USD
(9 million USD), so Lua's doubles hold them exactly.
"""

from __future__ import annotations

_RESERVED_SUM = """
local function reserved_sum(key)
  local total = 0
  for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    total = total + tonumber(string.match(member, ':(%d+)$'))
  end
  return total
end
"""

# ARGV: now, expires_at, member, amount, then per window: limit, expire_at (epoch seconds)
# Returns 0 when admitted, else the 1-based index of the first window that would overflow.
RESERVE = (
    _RESERVED_SUM
    + """
local now = ARGV[1]
local amount = tonumber(ARGV[4])
local n = #KEYS / 2
for i = 1, n do
  local res = KEYS[2 * i]
  redis.call('ZREMRANGEBYSCORE', res, '-inf', now)
  local spent = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  if spent + reserved_sum(res) + amount > tonumber(ARGV[3 + 2 * i]) then
    return i
  end
end
for i = 1, n do
  local res = KEYS[2 * i]
  redis.call('ZADD', res, ARGV[2], ARGV[3])
  redis.call('EXPIREAT', res, ARGV[4 + 2 * i])
end
return 0
"""
)

# KEYS[1] = settled set, then window pairs from KEYS[2].
# ARGV: now, id, member, actual, remember_until, then per window: expire_at.
# Returns 1 when recorded, 0 when this id was already settled.
SETTLE = """
local settled = KEYS[1]
if redis.call('ZSCORE', settled, ARGV[2]) then
  return 0
end
redis.call('ZREMRANGEBYSCORE', settled, '-inf', ARGV[1])
redis.call('ZADD', settled, ARGV[5], ARGV[2])
redis.call('EXPIREAT', settled, math.ceil(tonumber(ARGV[5])))
local n = (#KEYS - 1) / 2
for i = 1, n do
  local spent = KEYS[2 * i]
  redis.call('ZREM', KEYS[2 * i + 1], ARGV[3])
  redis.call('INCRBY', spent, ARGV[4])
  redis.call('EXPIREAT', spent, ARGV[5 + i])
end
return 1
"""

# KEYS: window pairs. ARGV: member.
RELEASE = """
for i = 1, #KEYS / 2 do
  redis.call('ZREM', KEYS[2 * i], ARGV[1])
end
return 0
"""

# KEYS: window pairs. ARGV: now. Returns {spent1, reserved1, spent2, reserved2, ...}.
SNAPSHOT = (
    _RESERVED_SUM
    + """
local out = {}
for i = 1, #KEYS / 2 do
  local res = KEYS[2 * i]
  redis.call('ZREMRANGEBYSCORE', res, '-inf', ARGV[1])
  out[#out + 1] = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  out[#out + 1] = reserved_sum(res)
end
return out
"""
)
