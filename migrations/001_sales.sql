-- Sales, their items, the purchases that sold them and the log of every checkout attempt.

CREATE TABLE sales (
  id                      bigserial PRIMARY KEY,
  -- Start of the hourly slot a scheduled sale was made for; NULL for operator sales.
  -- Unique, so service instances racing to schedule the same hour create one sale.
  slot                    timestamptz UNIQUE,
  starts_at               timestamptz NOT NULL,
  ends_at                 timestamptz NOT NULL,
  per_user_limit          integer NOT NULL CHECK (per_user_limit > 0),
  reservation_ttl_seconds integer NOT NULL CHECK (reservation_ttl_seconds > 0),
  items                   integer NOT NULL CHECK (items > 0),
  stock_per_item          integer NOT NULL CHECK (stock_per_item > 0),
  units_total             bigint GENERATED ALWAYS AS (items::bigint * stock_per_item) STORED,
  created_at              timestamptz NOT NULL DEFAULT now(),
  CHECK (ends_at >= starts_at)
);
CREATE INDEX sales_window ON sales (ends_at, starts_at);

CREATE TABLE items (
  sale_id   bigint  NOT NULL REFERENCES sales (id) ON DELETE CASCADE,
  id        integer NOT NULL CHECK (id > 0),
  name      text    NOT NULL,
  image_url text    NOT NULL,
  stock     integer NOT NULL CHECK (stock >= 0),
  PRIMARY KEY (sale_id, id)
);

CREATE TABLE purchases (
  id         bigserial PRIMARY KEY,
  -- The last line of defence: one purchase per reservation code, whatever the concurrency.
  code       text        NOT NULL UNIQUE,
  sale_id    bigint      NOT NULL REFERENCES sales (id),
  item_id    integer     NOT NULL,
  user_id    text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX purchases_sale_item ON purchases (sale_id, item_id);
CREATE INDEX purchases_sale_user ON purchases (sale_id, user_id);

CREATE TABLE checkout_attempts (
  id         bigserial PRIMARY KEY,
  sale_id    bigint,
  user_id    text,
  item_id    bigint,
  result     text        NOT NULL,
  code       text,
  created_at timestamptz NOT NULL,
  -- Entry id in the sale's Redis stream: makes the at-least-once drain idempotent.
  stream_id  text
);
CREATE UNIQUE INDEX checkout_attempts_stream ON checkout_attempts (sale_id, stream_id);
CREATE INDEX checkout_attempts_sale_result ON checkout_attempts (sale_id, result);
