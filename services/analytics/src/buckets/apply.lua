-- Applies one batch of bucket deltas. Redis runs a script without interleaving anything, but it does NOT
-- roll back: writes made before an error stay. So the script works in three phases:
--   1. the applied marker first (a batch applied before is never applied again), then the backfill;
--   2. every input and every key it will touch is validated, and nothing is written if one is wrong;
--   3. the writes, and the applied marker last — a batch whose marker exists was applied in full.
-- ARGV[1] key base ("<prefix>analytics:")
-- ARGV[2] message id to deduplicate on ("" = no deduplication, used by the backfill)
-- ARGV[3] seconds to remember an applied message id
-- ARGV[4] JSON deltas:
--   b: {{tag, bucket, views, carts, orders, revenue, expire_at}}  counters of a bucket (string <tag>:<bucket>)
--   p: {{tag, bucket, member, views, expire_at}}                   product views of a bucket (zset <tag>p:<bucket>)
--   w: {{window, tag}}                                             rolling windows to keep in step
-- Returns 1 when applied, 0 when this message id was applied before (redelivery: never counted twice),
-- -1 when the backfill is not complete (the consumer must wait: the backfill may still count this batch),
-- and an error starting with INVALID (nothing written) when the deltas or the stored state are unusable.
local base, id = ARGV[1], ARGV[2]
if id ~= '' then
  if redis.call('EXISTS', base .. 'applied:' .. id) == 1 then
    return 0
  end
  if redis.call('EXISTS', base .. 'ready') == 0 then
    return -1
  end
end

local function invalid(what)
  return redis.error_reply('INVALID ' .. what)
end
local function integer(x)
  return type(x) == 'number' and x == math.floor(x) and x >= 0
end
local function zset_or_none(key)
  local t = redis.call('TYPE', key).ok
  return t == 'none' or t == 'zset'
end

local ok, d = pcall(cjson.decode, ARGV[4])
if not ok or type(d) ~= 'table' or type(d.b) ~= 'table' or type(d.p) ~= 'table' or type(d.w) ~= 'table' then
  return invalid('deltas are not the expected JSON')
end
-- buckets already past their retention are not written (they would never be read or cleaned)
local now = tonumber(redis.call('TIME')[1])

-- phase 2: validate. Counters: seven integers, and the stored value (if any) must parse.
local counters = {}
for i, b in ipairs(d.b) do
  if type(b[1]) ~= 'string' then
    return invalid('bucket entry ' .. i .. ' has no grain tag')
  end
  for j = 2, 7 do
    if not integer(b[j]) then
      return invalid('bucket entry ' .. i .. ' field ' .. j .. ' is not a non-negative integer')
    end
  end
  if b[7] > now then
    local key = base .. b[1] .. ':' .. b[2]
    local t = redis.call('TYPE', key).ok
    local v, c, o, r = 0, 0, 0, 0
    if t == 'string' then
      v, c, o, r = string.match(redis.call('GET', key), '^(%d+) (%d+) (%d+) (%d+)$')
      if not v then
        return invalid('counter ' .. key .. ' does not hold "views carts orders revenue"')
      end
    elseif t ~= 'none' then
      return invalid('counter ' .. key .. ' is a ' .. t)
    end
    counters[#counters + 1] = { key, v + b[3], c + b[4], o + b[5], r + b[6], b[7] }
  end
end
for i, p in ipairs(d.p) do
  if type(p[1]) ~= 'string' or not integer(p[2]) or type(p[3]) ~= 'string' or not integer(p[4]) or not integer(p[5]) then
    return invalid('product entry ' .. i .. ' is malformed')
  end
  if p[5] > now and not zset_or_none(base .. p[1] .. 'p:' .. p[2]) then
    return invalid('product views ' .. base .. p[1] .. 'p:' .. p[2] .. ' are not a sorted set')
  end
end

-- the buckets each rolling window currently sums: a product delta joins a window only inside its range,
-- so the window zset always equals the sum of its buckets' zsets
local windows = {}
for _, w in ipairs(d.w) do
  local key = base .. 'w:' .. tostring(w[1])
  if not zset_or_none(key) then
    return invalid('window ' .. key .. ' is not a sorted set')
  end
  local r = redis.call('HMGET', key .. ':range', 'first', 'last')
  if r[1] and r[2] then
    local first, last = tonumber(r[1]), tonumber(r[2])
    if not first or not last then
      return invalid('window range ' .. key .. ':range is not numeric')
    end
    windows[#windows + 1] = { key = key, tag = w[2], first = first, last = last }
  end
end

-- phase 3: write. The counters of a bucket are one string, "views carts orders revenue", so a dashboard
-- reads a whole window with one MGET; it expires with the grain's retention.
for _, c in ipairs(counters) do
  redis.call('SET', c[1], string.format('%d %d %d %d', c[2], c[3], c[4], c[5]), 'EXAT', c[6])
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
-- the marker last: present means applied in full
if id ~= '' then
  redis.call('SET', base .. 'applied:' .. id, '1', 'EX', tonumber(ARGV[3]))
end
return 1
