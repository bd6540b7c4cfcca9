-- purchase-settle-release: purchase-settle.lua, then the purchase's lock released, in one round
-- trip (the lock taken by purchase-lock-begin.lua on the data's own Redis).
--
-- KEYS[1] meta, KEYS[2] stock, KEYS[3] users, KEYS[4] res, KEYS[5] due (see checkout.lua)
-- KEYS[6] the code's lock
-- ARGV[1] code, ARGV[2] outcome ('sold' or 'unsold'), ARGV[3] purchase id (with 'sold'),
-- ARGV[4] the lock's value, ARGV[5] '1': settle only while the lock holds that value
--
-- Returns { state_before, state_after } as purchase-settle.lua. The reservation is settled even
-- when the lock has expired meanwhile (settling is idempotent and Postgres's unique code stands
-- behind it), unless ARGV[5] is '1' (a try given up on: its begin may never have run, and then
-- the reservation is not its to settle; { '', '' } then); the lock is deleted only while it
-- still holds this value.
if ARGV[5] == '1' and redis.call('GET', KEYS[6]) ~= ARGV[4] then return { '', '' } end
local settled = settle_commit(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3])
if redis.call('GET', KEYS[6]) == ARGV[4] then redis.call('DEL', KEYS[6]) end
return settled
