-- 0010: see the Postgres migration of the same number.
CREATE TABLE rotated_refresh_tokens (
	hash       TEXT PRIMARY KEY NOT NULL,
	session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX rotated_refresh_tokens_session_id_idx ON rotated_refresh_tokens (session_id);

CREATE TRIGGER sessions_remember_rotated AFTER UPDATE OF refresh_hash ON sessions
WHEN NEW.refresh_hash <> OLD.refresh_hash AND NEW.revoked_at IS NULL
BEGIN
	INSERT INTO rotated_refresh_tokens (hash, session_id) VALUES (OLD.refresh_hash, NEW.id);
END;

CREATE TRIGGER sessions_forget_rotated AFTER UPDATE OF revoked_at ON sessions
WHEN NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL
BEGIN
	DELETE FROM rotated_refresh_tokens WHERE session_id = NEW.id;
END;
