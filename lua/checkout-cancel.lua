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
local state, item, user, expires = parse(v)
if state ~= 'R' then return 0 end
release(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], code, item, user, expires, 'cancelled')
return 1
