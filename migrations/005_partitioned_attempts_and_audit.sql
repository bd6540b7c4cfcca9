-- The attempt log partitioned by sale, so the attempts of a sale long over can be dropped as one
-- table (ATTEMPT_RETENTION_DAYS) instead of deleted row by row from hundreds of millions. Each
-- sale gets its partition when it is created; attempts of no sale (a checkout with no sale
-- running) have one of their own, and a default partition takes anything else, so no attempt is
-- ever refused for want of a partition. Every row of the old table is kept.
ALTER TABLE checkout_attempts RENAME TO checkout_attempts_unpartitioned;
ALTER SEQUENCE checkout_attempts_id_seq OWNED BY NONE;
DROP INDEX checkout_attempts_key;
DROP INDEX checkout_attempts_sale_result;

CREATE TABLE checkout_attempts (
  id          bigint      NOT NULL DEFAULT nextval('checkout_attempts_id_seq'),
  sale_id     bigint,
  user_id     text,
  item_id     bigint,
  result      text        NOT NULL,
  code        text,
  created_at  timestamptz NOT NULL,
  stream_id   text,
  attempt_key text
) PARTITION BY LIST (sale_id);
ALTER SEQUENCE checkout_attempts_id_seq OWNED BY checkout_attempts.id;

-- A partitioned unique key must hold the partition key: an attempt is unique within its sale
-- (one attempt belongs to one sale, whether recorded in the process, in the sale's stream, or
-- both). Attempts of no sale are only ever recorded once, by the process, under a random key;
-- rows from before attempt keys have none.
CREATE UNIQUE INDEX checkout_attempts_key ON checkout_attempts (sale_id, attempt_key);
CREATE INDEX checkout_attempts_sale_result ON checkout_attempts (sale_id, result);

CREATE TABLE checkout_attempts_no_sale PARTITION OF checkout_attempts FOR VALUES IN (NULL);
CREATE TABLE checkout_attempts_default PARTITION OF checkout_attempts DEFAULT;

DO $$
DECLARE s bigint;
BEGIN
  FOR s IN SELECT id FROM sales ORDER BY id LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF checkout_attempts FOR VALUES IN (%s)', 'checkout_attempts_s' || s, s);
  END LOOP;
END $$;

INSERT INTO checkout_attempts (id, sale_id, user_id, item_id, result, code, created_at, stream_id, attempt_key)
SELECT id, sale_id, user_id, item_id, result, code, created_at, stream_id, attempt_key FROM checkout_attempts_unpartitioned;
DROP TABLE checkout_attempts_unpartitioned;

-- Who did what to which sale, and how it went: one row per operator action, kept for good.
-- `operator` is the token's name (ADMIN_TOKENS) or a fingerprint of it, never the token.
CREATE TABLE operator_actions (
  id         bigserial   PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  action     text        NOT NULL,
  sale_id    bigint,
  outcome    text        NOT NULL,
  operator   text        NOT NULL,
  client_ip  text,
  request_id text
);
CREATE INDEX operator_actions_sale ON operator_actions (sale_id, id);

-- The purchases of a sale in order, for its export and report.
CREATE INDEX purchases_sale_id ON purchases (sale_id, id);
