-- wrk script for bench/throughput.py: POST a JSON body; print one machine-readable line at the end.
--
-- Environment (set by the bench):
--   BENCH_PATH      request path (default /ask)
--   BENCH_BODY      the JSON body; every "QUESTION" in it is replaced by the question
--   BENCH_QUESTION  the question text (a fixed question: the cached path)
--   BENCH_DISTINCT  "1": append "<thread>-<counter>" to the question, so no two requests of the
--                   run ask the same thing (the uncached path: every request is a paid cache miss)
--   BENCH_LIMIT     stop each thread after this many responses (0: run for -d)
--   BENCH_AUTH      an Authorization header value, if the target needs one
-- wrk runs one Lua state per thread: setup() gives each its id, so counters never collide.

local path = os.getenv("BENCH_PATH") or "/ask"
local body = os.getenv("BENCH_BODY") or '{"question":"QUESTION"}'
local question = os.getenv("BENCH_QUESTION") or "pod OOMKilled, what now?"
local distinct = os.getenv("BENCH_DISTINCT") == "1"
local limit = tonumber(os.getenv("BENCH_LIMIT") or "0")
local auth = os.getenv("BENCH_AUTH")

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

local counter = 0
local responses = 0
local headers = {["Content-Type"] = "application/json"}
if auth and auth ~= "" then headers["Authorization"] = auth end
local fixed = wrk.format("POST", path, headers, (body:gsub("QUESTION", question)))

function request()
  if not distinct then return fixed end
  counter = counter + 1
  local q = question .. " " .. tostring(id) .. "-" .. tostring(counter)
  return wrk.format("POST", path, headers, (body:gsub("QUESTION", q)))
end

if limit > 0 then
  function response(status, hdrs, b)
    responses = responses + 1
    if responses >= limit then wrk.thread:stop() end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
