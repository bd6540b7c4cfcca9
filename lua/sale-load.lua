-- sale-load: load a sale into Redis, once. Also rebuilds a sale lost by Redis (a restart
-- without persistence) from what Postgres knows was sold.
--
-- KEYS[1] meta, KEYS[2] stock, KEYS[3] users, KEYS[4] res, KEYS[5] due, KEYS[6] log
-- ARGV[1] start (ms), ARGV[2] end (ms), ARGV[3] per-user limit, ARGV[4] reservation ttl (ms),
-- ARGV[5] expire keys at (ms since epoch), ARGV[6] item count, ARGV[7] stock per item,
-- ARGV[8] consumer group of the attempt log, ARGV[9] number of sold-item pairs N,
-- then N pairs (item, units sold), then pairs (user, units bought) to the end.
--
-- Returns 1 when it loaded the sale, 0 when it was already loaded (nothing changed).
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end

local items, per = tonumber(ARGV[6]), tonumber(ARGV[7])
local sold = 0
local soldAt = {}
local npairs = tonumber(ARGV[9])
for i = 0, npairs - 1 do
  local n = tonumber(ARGV[11 + i * 2])
  soldAt[ARGV[10 + i * 2]] = n
  sold = sold + n
end

local batch = {}
for id = 1, items do
  local key = tostring(id)
  batch[#batch + 1] = key
  batch[#batch + 1] = per - (soldAt[key] or 0)
  if #batch >= 2000 or id == items then
    redis.call('HSET', KEYS[2], unpack(batch))
    batch = {}
  end
end

for i = 10 + npairs * 2, #ARGV, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end

redis.call('HSET', KEYS[1], 'start', ARGV[1], 'end', ARGV[2], 'limit', ARGV[3], 'ttl', ARGV[4],
  'total', items * per, 'sold', sold, 'reserved', 0, 'expired', 0)

-- The group may exist already: attempts recorded before the loss are still to be drained.
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[6], ARGV[8], '0', 'MKSTREAM')
for i = 1, 5 do redis.call('PEXPIREAT', KEYS[i], ARGV[5]) end
return 1
