-- sale-load: load a sale into Redis, once. Also rebuilds a sale lost by Redis (a restart
-- without persistence) from what Postgres knows was sold, and sets aside the state another
-- database's sale left under these keys (never trusted: it is renamed away and kept a day).
--
-- KEYS[1] meta, KEYS[2] stock, KEYS[3] users, KEYS[4] res, KEYS[5] due, KEYS[6] log
-- ARGV[1] start (ms), ARGV[2] end (ms), ARGV[3] per-user limit, ARGV[4] reservation ttl (ms),
-- ARGV[5] expire keys at (ms since epoch), ARGV[6] owner (see sale-sync.lua), ARGV[7] item
-- count, ARGV[8] stock per item, ARGV[9] consumer group of the attempt log, ARGV[10] number of
-- sold-item pairs N, then N pairs (item, units sold), then pairs (user, units bought) to the end.
--
-- Returns 1 when it loaded the sale, 2 when it loaded it after setting another sale's state
-- aside, 0 when it was already loaded (nothing changed).
local owner = redis.call('HGET', KEYS[1], 'owner')
local result = 1
if owner == ARGV[6] or (owner == false and ARGV[6] == '' and redis.call('EXISTS', KEYS[1]) == 1) then return 0 end
if owner ~= false or redis.call('EXISTS', KEYS[1]) == 1 then
  for i = 1, 6 do
    if redis.call('EXISTS', KEYS[i]) == 1 then
      redis.call('RENAME', KEYS[i], KEYS[i] .. ':foreign')
      redis.call('PEXPIRE', KEYS[i] .. ':foreign', 86400000)
    end
  end
  result = 2
end

local items, per = tonumber(ARGV[7]), tonumber(ARGV[8])
local sold = 0
local soldAt = {}
local npairs = tonumber(ARGV[10])
for i = 0, npairs - 1 do
  local n = tonumber(ARGV[12 + i * 2])
  soldAt[ARGV[11 + i * 2]] = n
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

for i = 11 + npairs * 2, #ARGV, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end

redis.call('HSET', KEYS[1], 'start', ARGV[1], 'end', ARGV[2], 'limit', ARGV[3], 'ttl', ARGV[4],
  'total', items * per, 'sold', sold, 'reserved', 0, 'expired', 0, 'cancelled', 0, 'owner', ARGV[6])

-- The group may exist already: attempts recorded before the loss are still to be drained.
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[6], ARGV[9], '0', 'MKSTREAM')
for i = 1, 5 do redis.call('PEXPIREAT', KEYS[i], ARGV[5]) end
return result
