-- wrk script for the analytics ceiling (k6 itself tops out near 13k req/s on a 2-core box):
--   wrk -t2 -c64 -d30s -s services/analytics/bench/dashboards.lua http://127.0.0.1:8083
-- Requests GET /dashboards/overview with the same window mix as k6/case2-analytics.js (env WINDOWS,
-- "15m:60,1h:30,24h:8,7d:2" = percent per window) and prints p50/p95/p99 at the end.
local windows = {}
local mix = os.getenv("WINDOWS") or "15m:60,1h:30,24h:8,7d:2"
for w, pct in mix:gmatch("([^:,]+):(%d+)") do
  for _ = 1, tonumber(pct) do
    windows[#windows + 1] = w
  end
end

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  math.randomseed(os.time() + (id or 0) * 7919)
end

function request()
  local w = windows[math.random(#windows)]
  return wrk.format("GET", "/dashboards/overview?window=" .. w)
end

function done(summary, latency, requests)
  local rps = summary.requests / (summary.duration / 1e6)
  io.write(string.format("rps %.0f  p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  errors %d (non-2xx %d)\n", rps,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
