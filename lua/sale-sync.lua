-- sale-sync: bring a loaded sale's window and rules up to date (cheap; runs often).
--
-- KEYS[1] meta, KEYS[2] stock, KEYS[3] users, KEYS[4] res, KEYS[5] due (see checkout.lua),
-- KEYS[6] xfer, KEYS[7] recv (see stock-take.lua, stock-give.lua)
-- ARGV[1] start (ms), ARGV[2] end (ms), ARGV[3] per-user limit, ARGV[4] reservation ttl (ms),
-- ARGV[5] expire keys at (ms since epoch), ARGV[6] owner: "<sale id>.<token>" of the sale in
-- Postgres ("" for a sale from before tokens)
--
-- A sale's end only ever moves earlier (a sale ended or cancelled, or cut short by a newer one):
-- the earlier of the end held and the one given is kept, so an instance whose catalog was read
-- just before a sale ended cannot reopen it.
--
-- Returns 1 when the sale is loaded (and now in sync), 0 when it must be loaded: missing, or
-- loaded by another database's sale (sale-load sets that state aside).
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner == false then
  if redis.call('EXISTS', KEYS[1]) == 0 or ARGV[6] ~= '' then return 0 end
elseif owner ~= ARGV[6] then
  return 0
end
local ends = ARGV[2]
local held = redis.call('HGET', KEYS[1], 'end')
if held and tonumber(held) < tonumber(ends) then ends = held end
redis.call('HSET', KEYS[1], 'start', ARGV[1], 'end', ends, 'limit', ARGV[3], 'ttl', ARGV[4])
-- Keys created after loading (users, res, due, xfer, recv) get their expiry here too.
for i = 1, 7 do redis.call('PEXPIREAT', KEYS[i], ARGV[5]) end
return 1
