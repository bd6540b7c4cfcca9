-- What the client sent for an attempt refused as invalid: the item and user values exactly as
-- they came (made storable: at most 256 characters, NUL and lone surrogates replaced), beside the
-- ids they could not be read as (item_id NULL for `id=item_7`). NULL for every other attempt.
-- A plain ADD COLUMN: on a table partitioned by sale it reaches every partition.
ALTER TABLE checkout_attempts ADD COLUMN item_sent text, ADD COLUMN user_sent text;
