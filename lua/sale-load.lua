-- sale-load: load a sale (one shard of it) into Redis, once. Also rebuilds a sale lost by Redis
-- (a restart without persistence) from what Postgres knows was sold, and sets aside the state
-- another database's sale left under these keys (never trusted: it is renamed away and kept a day).
--
-- KEYS[1] meta, KEYS[2] stock, KEYS[3] users, KEYS[4] res, KEYS[5] due, KEYS[6] log (see
-- checkout.lua), KEYS[7] xfer (see stock-take.lua), KEYS[8] recv (see stock-give.lua)
-- ARGV[1] start (ms), ARGV[2] end (ms), ARGV[3] per-user limit, ARGV[4] reservation ttl (ms),
-- ARGV[5] expire keys at (ms since epoch), ARGV[6] owner (see sale-sync.lua), ARGV[7] item
-- count, ARGV[8] stock per item, ARGV[9] consumer group of the attempt log, ARGV[10] this
-- shard, ARGV[11] shards of the sale, ARGV[12] mode, ARGV[13] number of item pairs N, then N
-- pairs (item, value), then pairs (user, units bought) of this shard's users to the end. A load
-- too large for one call has its pairs staged first: then ARGV[13] is 'staged:<id>', and the item
-- and user pairs are in the hashes KEYS[2] .. ':load:<id>' and KEYS[3] .. ':load:<id>', which
-- this script reads and deletes.
-- Mode 'share': the values are units sold per item; each shard gets its share of what is left
-- (the same split as a new sale, docs/scaling.md). Mode 'explicit': the values are this shard's
-- free units per item (0 for items not named): a lost shard rebuilt from what the others hold.
--
-- Returns 1 when it loaded the sale, 2 when it loaded it after setting another sale's state
-- aside, 0 when it was already loaded (nothing changed).
local staged = string.match(ARGV[13], '^staged:(.+)$')
local staged_items, staged_users
if staged then
  staged_items = redis.call('HGETALL', KEYS[2] .. ':load:' .. staged)
  staged_users = redis.call('HGETALL', KEYS[3] .. ':load:' .. staged)
  redis.call('DEL', KEYS[2] .. ':load:' .. staged, KEYS[3] .. ':load:' .. staged)
end

local owner = redis.call('HGET', KEYS[1], 'owner')
local result = 1
if owner == ARGV[6] or (owner == false and ARGV[6] == '' and redis.call('EXISTS', KEYS[1]) == 1) then return 0 end
if owner ~= false or redis.call('EXISTS', KEYS[1]) == 1 then
  for i = 1, 8 do
    if redis.call('EXISTS', KEYS[i]) == 1 then
      redis.call('RENAME', KEYS[i], KEYS[i] .. ':foreign')
      redis.call('PEXPIRE', KEYS[i] .. ':foreign', 86400000)
    end
  end
  result = 2
end

local items, per = tonumber(ARGV[7]), tonumber(ARGV[8])
local shard, shards, mode = tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[12]
local npairs = staged and 0 or tonumber(ARGV[13])
local given = {}
for i = 0, npairs - 1 do given[ARGV[14 + i * 2]] = tonumber(ARGV[15 + i * 2]) end
if staged then
  for i = 1, #staged_items, 2 do given[staged_items[i]] = tonumber(staged_items[i + 1]) end
end

-- This shard's part of `units` of item `id`: as many as every shard, and one of the remainder
-- for the shards id, id+1, ... (mod shards), so a one-unit item lives on shard id mod shards.
local function share(units, id)
  local extra = ((shard - id) % shards) < (units % shards) and 1 or 0
  return math.floor(units / shards) + extra
end

local total = 0
local batch = {}
for id = 1, items do
  local key = tostring(id)
  total = total + share(per, id)
  batch[#batch + 1] = key
  if mode == 'explicit' then
    batch[#batch + 1] = given[key] or 0
  else
    batch[#batch + 1] = share(per - (given[key] or 0), id)
  end
  if #batch >= 2000 or id == items then
    redis.call('HSET', KEYS[2], unpack(batch))
    batch = {}
  end
end

-- Every purchase of a user lives on the user's home shard: this shard sold what its users bought.
local sold = 0
local users, from = ARGV, 14 + npairs * 2
if staged then users, from = staged_users, 1 end
batch = {}
for i = from, #users, 2 do
  batch[#batch + 1] = users[i]
  batch[#batch + 1] = users[i + 1]
  sold = sold + tonumber(users[i + 1])
  if #batch >= 2000 then
    redis.call('HSET', KEYS[3], unpack(batch))
    batch = {}
  end
end
if #batch > 0 then redis.call('HSET', KEYS[3], unpack(batch)) end

redis.call('HSET', KEYS[1], 'start', ARGV[1], 'end', ARGV[2], 'limit', ARGV[3], 'ttl', ARGV[4],
  'total', total, 'sold', sold, 'reserved', 0, 'expired', 0, 'cancelled', 0, 'owner', ARGV[6])

-- The group may exist already: attempts recorded before the loss are still to be drained.
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[6], ARGV[9], '0', 'MKSTREAM')
for i = 1, 5 do redis.call('PEXPIREAT', KEYS[i], ARGV[5]) end
return result
