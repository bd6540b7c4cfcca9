-- stock-give: on the buyer's home shard, receive a unit another shard took (see stock-take.lua),
-- once per transfer id: what the sweeper sends for a transfer whose checkout never finished.
--
-- KEYS[1] stock  hash  item id -> free units on this shard
-- KEYS[2] recv   set   transfer ids received
-- ARGV[1] item id, ARGV[2] transfer id
--
-- Returns 1 when the unit arrived now, 0 when it had arrived already.
return receive(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
