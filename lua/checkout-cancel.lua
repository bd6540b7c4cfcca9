-- checkout-cancel: release the reservation of a checkout whose buyer was answered 503 (Redis
-- ran the script late, or its answer was lost). Sent on the same connection right after the
-- checkout, so Redis runs it after that checkout, if it runs that checkout at all.
--
-- KEYS[1] meta, KEYS[2] stock, KEYS[3] users, KEYS[4] res, KEYS[5] due (see checkout.lua)
-- ARGV[1] code
--
-- Returns 1 when a reservation was released (its unit back in stock), else 0.
local code = ARGV[1]
local v = redis.call('HGET', KEYS[4], code)
if not v then return 0 end
local state, item, user, expires = string.match(v, '^(%a)|([^|]*)|([^|]*)|(%d+)')
if state ~= 'R' then return 0 end
redis.call('HSET', KEYS[4], code, 'X|' .. item .. '|' .. user .. '|' .. expires)
redis.call('HINCRBY', KEYS[2], item, 1)
redis.call('HINCRBY', KEYS[3], user, -1)
redis.call('HINCRBY', KEYS[1], 'reserved', -1)
redis.call('ZREM', KEYS[5], code)
return 1
