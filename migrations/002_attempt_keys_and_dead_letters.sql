-- Every attempt has a key of its own: the reservation code the checkout script was given, or a
-- random one for attempts that never reached Redis. A request recorded both in the process (it
-- failed) and in the sale's stream (Redis ran it after all) shares one key, so it is one row.
ALTER TABLE checkout_attempts ADD COLUMN attempt_key text;
UPDATE checkout_attempts SET attempt_key = sale_id || ':' || stream_id WHERE stream_id IS NOT NULL;
CREATE UNIQUE INDEX checkout_attempts_key ON checkout_attempts (attempt_key);
DROP INDEX checkout_attempts_stream;

-- Attempts Postgres refused even alone: their fields byte for byte (JSON in bytea, which takes
-- any byte), where they came from, and why. Nothing a client sends is dropped silently.
CREATE TABLE checkout_attempts_dead_letter (
  id          bigserial PRIMARY KEY,
  attempt_key text        NOT NULL UNIQUE,
  source      text        NOT NULL,
  raw         bytea       NOT NULL,
  reason      text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
