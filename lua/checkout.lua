-- checkout: decide one checkout attempt atomically and record it.
--
-- KEYS[1] meta   hash  start, end (ms), limit, ttl (ms), total, sold, reserved, expired, cancelled,
--                owner (the sale in Postgres whose state this is: see sale-sync.lua)
-- KEYS[2] stock  hash  item id -> free units
-- KEYS[3] users  hash  user id -> units held (live reservations + purchases)
-- KEYS[4] res    hash  code -> "state|item|user|expires_at_ms[|purchase_id]"
-- KEYS[5] due    zset  code scored by the time it needs attention (expiry or commit lease)
-- KEYS[6] log    stream of attempts, drained into Postgres by the attempt log; one field per
--                entry, `a` = "user|item|result|key|ms" (user ids and codes never hold a '|'),
--                where key is ARGV[3]: the attempt's key, and the reservation's code on success
-- KEYS[7] rate   counter of this client address's checkouts in the current window
-- KEYS[8] rate   counter of this user's checkouts in the current window
-- KEYS[9] recv   set of transfer ids this shard has received (a sale over several shards)
-- ARGV[1] item id (canonical decimal), ARGV[2] user id, ARGV[3] the attempt's key: its code on success
-- ARGV[4] most checkouts per address per window, ARGV[5] most per user (0 switches either off)
-- ARGV[6] rate window (ms)
-- ARGV[7] step: '' for a sale of one shard (the whole checkout); for a sale over several, on the
--         buyer's home shard, 'first' (answers `elsewhere`, and records nothing, when this shard
--         has no unit of the item) then 'final' (after a unit was looked for on the other shards;
--         rate limits are not counted again)
-- ARGV[8] with 'final': the id of the transfer that brought a unit here, or ''
--
-- Returns { result, ms } where result is one of
-- success | rate_limited | sale_not_active | item_not_found | sold_out | user_limit | elsewhere,
-- and ms is the reservation's expiry (success) or the time left in the window (rate_limited).
-- Rate limits are counted here rather than in a request hook, so a checkout stays one round trip.
local item, user, code, step = ARGV[1], ARGV[2], ARGV[3], ARGV[7]
local now = now_ms()
if step == 'final' and ARGV[8] ~= '' then receive(KEYS[2], KEYS[9], item, ARGV[8]) end

local result, expires = 'success', 0
local window = tonumber(ARGV[6])
local wait = nil
if step ~= 'final' then
  wait = limited(KEYS[7], tonumber(ARGV[4]), window) or limited(KEYS[8], tonumber(ARGV[5]), window)
end
local m = redis.call('HMGET', KEYS[1], 'start', 'end', 'limit', 'ttl')
if wait then
  result, expires = 'rate_limited', wait
elseif not m[1] or now < tonumber(m[1]) or now >= tonumber(m[2]) then
  result = 'sale_not_active'
else
  local free = redis.call('HGET', KEYS[2], item)
  if not free then
    result = 'item_not_found'
  elseif tonumber(free) <= 0 then
    if step == 'first' then return { 'elsewhere', 0 } end
    result = 'sold_out'
  elseif tonumber(redis.call('HGET', KEYS[3], user) or '0') >= tonumber(m[3]) then
    result = 'user_limit'
  else
    expires = now + tonumber(m[4])
    redis.call('HINCRBY', KEYS[2], item, -1)
    redis.call('HINCRBY', KEYS[3], user, 1)
    redis.call('HSET', KEYS[4], code, 'R|' .. item .. '|' .. user .. '|' .. expires)
    redis.call('ZADD', KEYS[5], expires, code)
    redis.call('HINCRBY', KEYS[1], 'reserved', 1)
  end
end

redis.call('XADD', KEYS[6], '*', 'a', user .. '|' .. item .. '|' .. result .. '|' .. code .. '|' .. now)
return { result, expires }
