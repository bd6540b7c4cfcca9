-- sweep: return the units of expired reservations to stock; hand back stuck commits.
-- Atomic, so any number of service instances may sweep the same sale at once.
--
-- KEYS[1] meta, KEYS[2] stock, KEYS[3] users, KEYS[4] res, KEYS[5] due (see checkout.lua)
-- ARGV[1] most codes to look at in this call, ARGV[2] commit lease (ms)
--
-- Returns { expired_count, more, stuck_code... }: more is 1 when the batch limit was reached;
-- each stuck code is a committing reservation whose lease ran out (its committer crashed).
-- It is leased to this caller, which settles it against Postgres under the lock.
local limit, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = now_ms()
local codes = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, limit)

local out = { 0, #codes == limit and 1 or 0 }
for _, code in ipairs(codes) do
  local v = redis.call('HGET', KEYS[4], code)
  local state, item, user, expires
  if v then state, item, user, expires = parse(v) end
  if state == 'R' then
    release(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], code, item, user, expires, 'expired')
    out[1] = out[1] + 1
  elseif state == 'C' then
    redis.call('ZADD', KEYS[5], now + lease, code)
    out[#out + 1] = code
  else
    redis.call('ZREM', KEYS[5], code)
  end
end
return out
