-- 0013: administration. Custom roles (the built-in ones live in code), and
-- when an account was deleted, from which its restore window and erasure
-- are counted.
CREATE TABLE roles (
	name        TEXT    PRIMARY KEY NOT NULL,
	description TEXT    NOT NULL DEFAULT '',
	permissions TEXT    NOT NULL CHECK (json_valid(permissions)),
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
) STRICT;

ALTER TABLE users ADD COLUMN deleted_at INTEGER;
UPDATE users SET deleted_at = updated_at WHERE status = 'deleted';
CREATE INDEX users_deleted_at_idx ON users (deleted_at) WHERE deleted_at IS NOT NULL;
