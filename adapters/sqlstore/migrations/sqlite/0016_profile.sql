-- 0016: see the Postgres migration of the same number. SQLite adds a
-- column with a constant default without touching the rows.
ALTER TABLE users ADD COLUMN avatar_url TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN locale     TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN time_zone  TEXT NOT NULL DEFAULT '';
