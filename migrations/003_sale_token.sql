-- A random token per sale, part of the Redis keys of the sale. Sale ids restart at 1 in a new
-- database (a second environment on the same Redis, a database restored from a backup), and a
-- sale's Redis state must never be taken for another's. Sales that exist already keep the empty
-- token, and so the keys they have now.
ALTER TABLE sales ADD COLUMN token text NOT NULL DEFAULT '';
ALTER TABLE sales ALTER COLUMN token SET DEFAULT left(md5(gen_random_uuid()::text), 12);
