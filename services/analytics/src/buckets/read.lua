-- Brings one rolling window up to date and reads it (atomically).
-- ARGV[1] key base; ARGV[2] window name; ARGV[3] grain tag (m|h); ARGV[4] buckets in the window;
-- ARGV[5] most buckets to roll incrementally (beyond that, or without state, the window is rebuilt);
-- ARGV[6] the newest bucket the caller wants (its "now"); ARGV[7] top products to return (0 = roll only).
-- Returns nil until the aggregator's backfill is done, else {last, top (member, score, ...), series}
-- where series holds one "views carts orders revenue" string (or nil) per bucket, oldest first.
local base, name, tag = ARGV[1], ARGV[2], ARGV[3]
local size, maxroll, want, topn = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if redis.call('EXISTS', base .. 'ready') == 0 then
  return false
end
local wkey = base .. 'w:' .. name
local rkey = wkey .. ':range'
local function pkey(b)
  return base .. tag .. 'p:' .. b
end

local function rebuild(last)
  local keys = {}
  for b = last - size + 1, last do
    keys[#keys + 1] = pkey(b)
  end
  redis.call('DEL', wkey)
  redis.call('ZUNIONSTORE', wkey, #keys, unpack(keys))
  redis.call('HSET', rkey, 'first', last - size + 1, 'last', last)
end

-- subtract the buckets that left the window, add the ones that entered, drop products now at zero
local function roll(cur, last)
  for b = cur - size + 1, last - size do
    redis.call('ZUNIONSTORE', wkey, 2, wkey, pkey(b), 'WEIGHTS', 1, -1)
  end
  for b = cur + 1, last do
    redis.call('ZUNIONSTORE', wkey, 2, wkey, pkey(b))
  end
  redis.call('ZREMRANGEBYSCORE', wkey, '-inf', 0)
  redis.call('HSET', rkey, 'first', last - size + 1, 'last', last)
end

local last = want
local cur = redis.call('HGET', rkey, 'last')
if not cur then
  rebuild(want)
else
  cur = tonumber(cur)
  if want <= cur then
    -- another reader (or a clock slightly ahead) already moved it: answer for the window as stored
    last = cur
  elseif want - cur > maxroll then
    rebuild(want)
  else
    roll(cur, want)
  end
end
if topn == 0 then
  return { last }
end

local counters = {}
for b = last - size + 1, last do
  counters[#counters + 1] = base .. tag .. ':' .. b
end
local top = redis.call('ZREVRANGE', wkey, 0, topn - 1, 'WITHSCORES')
return { last, top, redis.call('MGET', unpack(counters)) }
