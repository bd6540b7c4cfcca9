-- purchase-settle-release: purchase-settle.lua, then the purchase's lock released, in one round
-- trip (the lock taken by purchase-lock-begin.lua on the data's own Redis).
--
-- KEYS[1] meta, KEYS[2] stock, KEYS[3] users, KEYS[4] res, KEYS[5] due (see checkout.lua)
-- KEYS[6] the code's lock
-- ARGV[1] code, ARGV[2] outcome ('sold' or 'unsold'), ARGV[3] purchase id (with 'sold'),
-- ARGV[4] the lock's value
--
-- Returns { state_before, state_after } as purchase-settle.lua. The reservation is settled even
-- when the lock has expired meanwhile (settling is idempotent and Postgres's unique code stands
-- behind it); the lock is deleted only while it still holds this value.
local settled = settle_commit(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3])
if redis.call('GET', KEYS[6]) == ARGV[4] then redis.call('DEL', KEYS[6]) end
return settled
