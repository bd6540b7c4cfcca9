-- prelude: what every script shares, prepended to each when it is defined (src/sale/scripts.ts).
-- Keys are those of the script that uses them; see checkout.lua for what each key holds.

-- Redis's own clock in ms, so every service instance judges windows and expiries alike.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A fixed-window rate counter: counts one more at `key`, and returns the ms left in the window
-- once past `max`, else nil. A `max` of 0 or less counts nothing.
local function limited(key, max, window)
  if max <= 0 then return nil end
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, window) end
  if n > max then return redis.call('PTTL', key) end
  return nil
end

-- A reservation's value "state|item|user|expires_at_ms[|purchase_id]": state is R (reserved),
-- C (committing), S (sold) or X (returned to stock).
local function parse(v)
  return string.match(v, '^(%a)|([^|]*)|([^|]*)|(%d+)|?(.*)$')
end

-- Ends a reservation that holds a unit (R or C) without a sale: the unit goes back to stock,
-- its buyer holds one fewer, and `counter` (expired, cancelled) of meta counts it.
-- meta, stock, users, res, due are the keys of the sale.
local function release(meta, stock, users, res, due, code, item, user, expires, counter)
  redis.call('HSET', res, code, 'X|' .. item .. '|' .. user .. '|' .. expires)
  redis.call('HINCRBY', stock, item, 1)
  redis.call('HINCRBY', users, user, -1)
  redis.call('HINCRBY', meta, 'reserved', -1)
  redis.call('HINCRBY', meta, counter, 1)
  redis.call('ZREM', due, code)
end


-- Receives a unit another shard took for a buyer homed here, once per transfer id: 1 when it
-- arrives now, 0 when it had arrived already.
local function receive(stock, recv, item, tid)
  if redis.call('SADD', recv, tid) == 0 then return 0 end
  redis.call('HINCRBY', stock, item, 1)
  return 1
end

-- A purchase's first step on a live reservation (R or C, whose fields `parse` gave): on to
-- committing with a lease the sweeper respects, or, when it is too late for a reservation still
-- reserved, its unit back to stock. Returns what purchase-begin.lua returns.
local function begin_commit(meta, stock, users, res, due, code, state, item, user, expires, lease)
  local now = now_ms()
  local ends = tonumber(redis.call('HGET', meta, 'end') or '0')
  local late = now >= tonumber(expires) or now >= ends
  if state == 'R' and late then
    release(meta, stock, users, res, due, code, item, user, expires, 'expired')
    return { 'expired', item, user, 1 }
  end
  redis.call('HSET', res, code, 'C|' .. item .. '|' .. user .. '|' .. expires)
  redis.call('ZADD', due, now + lease, code)
  if state == 'C' and late then return { 'settle', item, user } end
  return { 'commit', item, user }
end

-- Finishes a committing reservation: sold with purchase id `pid` (outcome 'sold'), else back to
-- stock when too late or reserved again. Returns { state_before, state_after }; see
-- purchase-settle.lua.
local function settle_commit(meta, stock, users, res, due, code, outcome, pid)
  local v = redis.call('HGET', res, code)
  if not v then return { '', '' } end
  local state, item, user, expires = parse(v)
  local base = item .. '|' .. user .. '|' .. expires

  if state == 'S' then return { 'S', 'S' } end

  if outcome == 'sold' then
    if state == 'X' then
      -- The unit went back to stock while the commit was in flight: take it again.
      redis.call('HINCRBY', stock, item, -1)
      redis.call('HINCRBY', users, user, 1)
    else
      redis.call('HINCRBY', meta, 'reserved', -1)
    end
    redis.call('HINCRBY', meta, 'sold', 1)
    redis.call('HSET', res, code, 'S|' .. base .. '|' .. pid)
    redis.call('ZREM', due, code)
    return { state, 'S' }
  end

  if state == 'X' then return { 'X', 'X' } end

  local now = now_ms()
  local ends = tonumber(redis.call('HGET', meta, 'end') or '0')
  if now >= tonumber(expires) or now >= ends then
    release(meta, stock, users, res, due, code, item, user, expires, 'expired')
    return { state, 'X' }
  end

  redis.call('HSET', res, code, 'R|' .. base)
  redis.call('ZADD', due, tonumber(expires), code)
  return { state, 'R' }
end
