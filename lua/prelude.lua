-- prelude: what every script shares, prepended to each when it is defined (src/sale/scripts.ts).
-- Keys are those of the script that uses them; see checkout.lua for what each key holds.

-- Redis's own clock in ms, so every service instance judges windows and expiries alike.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
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
