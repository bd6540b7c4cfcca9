-- How many cluster slots a sale's stock is spread over (SALE_SHARDS when it was created): fixed
-- for the sale's life, since its keys, codes and buyers' home shards depend on it.
ALTER TABLE sales ADD COLUMN shards integer NOT NULL DEFAULT 1 CHECK (shards BETWEEN 1 AND 64);
