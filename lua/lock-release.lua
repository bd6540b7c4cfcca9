-- lock-release: drops a lock taken by purchase-lock-begin.lua, if it still holds the value given
-- (as Redlock's release does), when the purchase ends without settling.
--
-- KEYS[1] the lock
-- ARGV[1] the lock's value
--
-- Returns 1 when the lock was dropped, 0 when it had expired or is another holder's.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
