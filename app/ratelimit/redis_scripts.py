"""The Lua scripts of the shared rate limiter: gcra.py's arithmetic, atomic on the Redis server.

Keys, per caller (the API key's name), with one hash tag so both live in one Redis Cluster slot
and different callers spread over the slots:
  {sre-ai:ratelimit:<caller>}:requests   the request TAT (Unix seconds, "%.6f")
  {sre-ai:ratelimit:<caller>}:tokens     the token TAT

Time: the Redis server's `TIME`, never a replica's clock (replicas' clocks differ by
milliseconds to seconds, and a TAT written by one is read by all). Each key expires (PEXPIRE,
a duration) one second after its bucket is full again, so an idle caller leaves nothing behind:
a missing key and a full bucket mean the same.

Results go back as strings: Redis would truncate a Lua number to an integer.
"""

from __future__ import annotations

from app.ratelimit.gcra import EPSILON_SECONDS, PERIOD_SECONDS

_PRELUDE = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local PERIOD = @PERIOD@
local EPS = @EPS@
local function fmt(x) return string.format('%.6f', x) end
local function keep(key, tat)
  redis.call('SET', key, fmt(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
end
local function quota(limit, tat)
  local ahead = math.max(tat - now, 0)
  local free = math.max(PERIOD - ahead, 0)
  return math.min(limit, math.floor(free / (PERIOD / limit) + 0.000001)), ahead
end
""".replace("@PERIOD@", repr(PERIOD_SECONDS)).replace("@EPS@", repr(EPSILON_SECONDS))

# KEYS: requests TAT, tokens TAT. ARGV: requests per minute, tokens per minute (0: unlimited).
# Returns {allowed (1/0), refused_by ('' | 'requests' | 'tokens'), retry_after,
#          requests_remaining, requests_reset, tokens_remaining, tokens_reset}.
ADMIT = _PRELUDE + """
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local rtat = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttat = tonumber(redis.call('GET', KEYS[2]) or '0')
local refused, wait = '', 0
local new_rtat = nil
if rpm > 0 then
  new_rtat = math.max(rtat, now) + PERIOD / rpm
  local over = new_rtat - now - PERIOD
  if over > EPS then refused, wait = 'requests', over end
end
if tpm > 0 then
  local over = ttat - now - (PERIOD - PERIOD / tpm)
  if over > EPS and over > wait then refused, wait = 'tokens', over end
end
if refused == '' and new_rtat then
  keep(KEYS[1], new_rtat)
  rtat = new_rtat
end
local rrem, rreset, trem, treset = 0, 0, 0, 0
if rpm > 0 then rrem, rreset = quota(rpm, rtat) end
if tpm > 0 then trem, treset = quota(tpm, ttat) end
return {refused == '' and 1 or 0, refused, fmt(wait), rrem, fmt(rreset), trem, fmt(treset)}
"""

# KEYS: tokens TAT. ARGV: tokens per minute (> 0), tokens used. Returns the new TAT - now.
CHARGE = _PRELUDE + """
local tpm = tonumber(ARGV[1])
local ttat = tonumber(redis.call('GET', KEYS[1]) or '0')
local new_ttat = math.max(ttat, now) + tonumber(ARGV[2]) * PERIOD / tpm
keep(KEYS[1], new_ttat)
return fmt(new_ttat - now)
"""

