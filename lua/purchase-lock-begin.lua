-- purchase-lock-begin: a purchase's lock and its begin in one round trip, where the lock lives on
-- the data's own Redis (one server). The lock is Redlock's: the same key (lockResource in
-- src/sale/keys.ts), a random value, an expiry; Redlock's scripts and this one exclude each other.
--
-- KEYS[1] meta, KEYS[2] stock, KEYS[3] users, KEYS[4] res, KEYS[5] due (see checkout.lua)
-- KEYS[6] the code's lock
-- KEYS[7] counter of this client address's purchases in the current window
-- ARGV[1] code, ARGV[2] commit lease (ms), ARGV[3] lock value, ARGV[4] lock TTL (ms)
-- ARGV[5] most purchases per address per window (0: not counted, as on a retry of the lock),
-- ARGV[6] rate window (ms)
--
-- Returns what purchase-begin.lua returns, or { 'busy' } when another holder has the lock. A code
-- not found, sold or returned to stock is answered without the lock (nothing is written); the
-- lock is taken, and held on return, only with 'commit' or 'settle' (settle it with
-- purchase-settle-release.lua, or drop it with lock-release.lua).
local code, lease, token, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local wait = limited(KEYS[7], tonumber(ARGV[5]), tonumber(ARGV[6]))
if wait then return { 'rate_limited', wait } end
local v = redis.call('HGET', KEYS[4], code)
if not v then return { 'not_found' } end

local state, item, user, expires, pid = parse(v)
if state == 'S' then return { 'sold', item, user, pid } end
if state == 'X' then return { 'expired', item, user } end

if not redis.call('SET', KEYS[6], token, 'NX', 'PX', ttl) then return { 'busy' } end
local begun = begin_commit(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], code, state, item, user, expires, lease)
if begun[1] == 'expired' then redis.call('DEL', KEYS[6]) end
return begun
