-- 0012: see the Postgres migration of the same number. SQLite's lower()
-- folds ASCII only, so a display name with other upper-case letters stays
-- unmatched by them until the row is next written (by the adapter, which
-- folds in Go); a never-signed-in user sorts as the zero time's Unix
-- microseconds, the smallest time a user.Key can hold.
ALTER TABLE users ADD COLUMN last_login_at INTEGER;
ALTER TABLE users ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE users SET
	search_text = email || char(1) || username || char(1) || lower(display_name),
	last_login_at = (SELECT max(s.created_at) FROM sessions s WHERE s.user_id = users.id);

CREATE TRIGGER sessions_record_login AFTER INSERT ON sessions
BEGIN
	UPDATE users SET last_login_at = NEW.created_at
	WHERE id = NEW.user_id AND (last_login_at IS NULL OR last_login_at < NEW.created_at);
END;

CREATE INDEX users_created_at_idx ON users (created_at, id);
CREATE INDEX users_email_order_idx ON users (email, id);
CREATE INDEX users_last_login_idx ON users (coalesce(last_login_at, -62135596800000000), id);
CREATE INDEX users_status_created_idx ON users (status, created_at, id);
