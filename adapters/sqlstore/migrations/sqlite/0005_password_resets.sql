-- 0005 password-reset tokens: see the Postgres migration of the same number.
CREATE TABLE password_resets (
	token_hash TEXT    PRIMARY KEY NOT NULL,
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	issued_at  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER
) STRICT;
CREATE INDEX password_resets_user_idx ON password_resets (user_id);
