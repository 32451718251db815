-- 0013: administration. Custom roles (the built-in ones live in code), and
-- when an account was deleted, from which its restore window and erasure
-- are counted.
CREATE TABLE roles (
	name        text        PRIMARY KEY,
	description text        NOT NULL DEFAULT '',
	permissions jsonb       NOT NULL,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);

ALTER TABLE users ADD COLUMN deleted_at timestamptz;
UPDATE users SET deleted_at = updated_at WHERE status = 'deleted';
CREATE INDEX users_deleted_at_idx ON users (deleted_at) WHERE deleted_at IS NOT NULL;
