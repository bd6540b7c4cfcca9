-- rate-count: counts one request of a client address in a fixed window, for a purchase that
-- reaches no sale script (a code of a sale Redis no longer holds, answered from Postgres).
--
-- KEYS[1] the address's counter
-- ARGV[1] most requests per window, ARGV[2] the window (ms)
--
-- Returns the ms left in the window once past the limit, else 0.
return limited(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])) or 0
