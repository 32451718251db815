-- 0009: see the Postgres migration of the same number.
ALTER TABLE credentials ADD COLUMN recovered_at INTEGER;
