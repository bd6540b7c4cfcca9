-- purchase-begin: under the reservation's lock, move a live reservation to "committing".
--
-- KEYS[1] meta, KEYS[2] stock, KEYS[3] users, KEYS[4] res, KEYS[5] due (see checkout.lua)
-- KEYS[6] counter of this client address's purchases in the current window
-- ARGV[1] code, ARGV[2] commit lease (ms): how long the sweeper leaves a committing reservation alone
-- ARGV[3] most purchases per address per window (0: not counted), ARGV[4] rate window (ms)
--
-- Returns one of
--   { 'rate_limited', ms }                  the address is over its limit for ms more; nothing done
--   { 'not_found' }
--   { 'sold', item, user, purchase_id }     already purchased: answer the same purchase again
--   { 'expired', item, user }               too late (reservation expired or sale ended); unit returned
--   { 'commit', item, user }                reservation is now committing: insert the purchase
--   { 'settle', item, user }                a committing reservation left by a crash, now past its
--                                           time: only an existing purchase row may complete it
-- Rate limits are counted here rather than in a request hook, so a purchase's first step stays
-- one round trip.
local code, lease = ARGV[1], tonumber(ARGV[2])
local wait = limited(KEYS[6], tonumber(ARGV[3]), tonumber(ARGV[4]))
if wait then return { 'rate_limited', wait } end
local v = redis.call('HGET', KEYS[4], code)
if not v then return { 'not_found' } end

local state, item, user, expires, pid = parse(v)
if state == 'S' then return { 'sold', item, user, pid } end
if state == 'X' then return { 'expired', item, user } end

return begin_commit(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], code, state, item, user, expires, lease)
