-- purchase-begin: under the reservation's lock, move a live reservation to "committing".
--
-- KEYS[1] meta, KEYS[2] stock, KEYS[3] users, KEYS[4] res, KEYS[5] due (see checkout.lua)
-- ARGV[1] code, ARGV[2] commit lease (ms): how long the sweeper leaves a committing reservation alone
--
-- Returns one of
--   { 'not_found' }
--   { 'sold', item, user, purchase_id }     already purchased: answer the same purchase again
--   { 'expired', item, user }               too late (reservation expired or sale ended); unit returned
--   { 'commit', item, user }                reservation is now committing: insert the purchase
--   { 'settle', item, user }                a committing reservation left by a crash, now past its
--                                           time: only an existing purchase row may complete it
local code, lease = ARGV[1], tonumber(ARGV[2])
local v = redis.call('HGET', KEYS[4], code)
if not v then return { 'not_found' } end

local state, item, user, expires, pid = parse(v)
if state == 'S' then return { 'sold', item, user, pid } end
if state == 'X' then return { 'expired', item, user } end

return begin_commit(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], code, state, item, user, expires, lease)
