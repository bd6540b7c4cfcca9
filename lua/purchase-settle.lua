-- purchase-settle: finish a committing reservation, one way or the other.
--
-- KEYS[1] meta, KEYS[2] stock, KEYS[3] users, KEYS[4] res, KEYS[5] due (see checkout.lua)
-- ARGV[1] code
-- ARGV[2] outcome: 'sold' (a purchase row exists) or 'unsold' (no row: the unit returns to stock
--                  when the reservation expired or the sale ended, else it is reserved again)
-- ARGV[3] purchase id (with 'sold')
--
-- Returns { state_before, state_after }. Settling is idempotent: a reservation already sold
-- stays sold and is counted once.
local code, outcome, pid = ARGV[1], ARGV[2], ARGV[3]
local v = redis.call('HGET', KEYS[4], code)
if not v then return { '', '' } end
local state, item, user, expires = parse(v)
local base = item .. '|' .. user .. '|' .. expires

if state == 'S' then return { 'S', 'S' } end

if outcome == 'sold' then
  if state == 'X' then
    -- The unit went back to stock while the commit was in flight: take it again.
    redis.call('HINCRBY', KEYS[2], item, -1)
    redis.call('HINCRBY', KEYS[3], user, 1)
  else
    redis.call('HINCRBY', KEYS[1], 'reserved', -1)
  end
  redis.call('HINCRBY', KEYS[1], 'sold', 1)
  redis.call('HSET', KEYS[4], code, 'S|' .. base .. '|' .. pid)
  redis.call('ZREM', KEYS[5], code)
  return { state, 'S' }
end

if state == 'X' then return { 'X', 'X' } end

local now = now_ms()
local ends = tonumber(redis.call('HGET', KEYS[1], 'end') or '0')
if now >= tonumber(expires) or now >= ends then
  release(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], code, item, user, expires, 'expired')
  return { state, 'X' }
end

redis.call('HSET', KEYS[4], code, 'R|' .. base)
redis.call('ZADD', KEYS[5], tonumber(expires), code)
return { state, 'R' }
