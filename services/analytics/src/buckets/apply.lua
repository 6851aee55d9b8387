-- Applies one batch of bucket deltas atomically (Redis runs a script without interleaving anything).
-- ARGV[1] key base ("<prefix>analytics:")
-- ARGV[2] message id to deduplicate on ("" = no deduplication, used by the backfill)
-- ARGV[3] seconds to remember an applied message id
-- ARGV[4] JSON deltas:
--   b: {{tag, bucket, views, carts, orders, revenue, expire_at}}  counters of a bucket (string <tag>:<bucket>)
--   p: {{tag, bucket, member, views, expire_at}}                   product views of a bucket (zset <tag>p:<bucket>)
--   w: {{window, tag}}                                             rolling windows to keep in step
-- Returns 1 when applied, 0 when this message id was applied before (redelivery: never counted twice),
-- -1 when the backfill is not complete (the consumer must wait: the backfill may still count this batch).
local base = ARGV[1]
if ARGV[2] ~= '' then
  if redis.call('EXISTS', base .. 'ready') == 0 then
    return -1
  end
  if not redis.call('SET', base .. 'applied:' .. ARGV[2], '1', 'NX', 'EX', tonumber(ARGV[3])) then
    return 0
  end
end
local d = cjson.decode(ARGV[4])
-- buckets already past their retention are not written (they would never be read or cleaned)
local now = tonumber(redis.call('TIME')[1])

-- the counters of a bucket are one string, "views carts orders revenue", so a dashboard reads a whole
-- window with one MGET; it expires with the grain's retention
for _, b in ipairs(d.b) do
  if b[7] > now then
    local key = base .. b[1] .. ':' .. b[2]
    local cur = redis.call('GET', key)
    local v, c, o, r = 0, 0, 0, 0
    if cur then
      v, c, o, r = string.match(cur, '(%d+) (%d+) (%d+) (%d+)')
    end
    redis.call('SET', key, string.format('%d %d %d %d', v + b[3], c + b[4], o + b[5], r + b[6]), 'EXAT', b[7])
  end
end

-- the buckets each rolling window currently sums: a product delta joins a window only inside its range,
-- so the window zset always equals the sum of its buckets' zsets
local windows = {}
for _, w in ipairs(d.w) do
  local key = base .. 'w:' .. w[1]
  local r = redis.call('HMGET', key .. ':range', 'first', 'last')
  if r[1] and r[2] then
    windows[#windows + 1] = { key = key, tag = w[2], first = tonumber(r[1]), last = tonumber(r[2]) }
  end
end

local expiring = {}
for _, p in ipairs(d.p) do
  if p[5] > now then
    local key = base .. p[1] .. 'p:' .. p[2]
    redis.call('ZINCRBY', key, p[4], p[3])
    expiring[key] = p[5]
    for _, w in ipairs(windows) do
      if w.tag == p[1] and p[2] >= w.first and p[2] <= w.last then
        redis.call('ZINCRBY', w.key, p[4], p[3])
      end
    end
  end
end
for key, at in pairs(expiring) do
  redis.call('EXPIREAT', key, at)
end
return 1
