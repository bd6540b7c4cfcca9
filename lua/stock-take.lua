-- stock-take: on a shard of a sale over several, take a unit of an item for a buyer homed on
-- another shard, and journal it until that shard has received it (see docs/scaling.md).
--
-- KEYS[1] stock  hash  item id -> free units on this shard
-- KEYS[2] xfer   hash  transfer id -> "item|destination shard|taken at ms", until acknowledged
-- ARGV[1] item id, ARGV[2] transfer id, ARGV[3] destination shard
--
-- Returns 1 when a unit was taken, 0 when this shard has none of the item.
local free = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if free <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1] .. '|' .. ARGV[3] .. '|' .. now_ms())
return 1
