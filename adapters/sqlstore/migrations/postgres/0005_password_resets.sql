-- 0005 password-reset tokens, stored as hashes; one live token per user.
CREATE TABLE password_resets (
	token_hash text        PRIMARY KEY,
	user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	issued_at  timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	used_at    timestamptz
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);
