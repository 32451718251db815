-- 0010: the hash of every refresh token a session rotated out, so that a
-- replay of any generation, not only the parent, is recognised as reuse
-- (SE-11). Triggers keep it inside the statement that rotates or ends the
-- session: the refresh hot path stays one statement, and no way of ending a
-- session (logout, reuse, sweep, revoke-all) can leave rows behind. An ended
-- session needs none: any token of it is refused anyway.
CREATE TABLE rotated_refresh_tokens (
	hash       text PRIMARY KEY,
	session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
);
CREATE INDEX rotated_refresh_tokens_session_id_idx ON rotated_refresh_tokens (session_id);

CREATE FUNCTION sessions_remember_rotated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO rotated_refresh_tokens (hash, session_id) VALUES (OLD.refresh_hash, NEW.id);
	RETURN NULL;
END $$;
CREATE TRIGGER sessions_remember_rotated AFTER UPDATE OF refresh_hash ON sessions
	FOR EACH ROW WHEN (NEW.refresh_hash <> OLD.refresh_hash AND NEW.revoked_at IS NULL)
	EXECUTE FUNCTION sessions_remember_rotated();

CREATE FUNCTION sessions_forget_rotated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM rotated_refresh_tokens WHERE session_id = NEW.id;
	RETURN NULL;
END $$;
CREATE TRIGGER sessions_forget_rotated AFTER UPDATE OF revoked_at ON sessions
	FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL)
	EXECUTE FUNCTION sessions_forget_rotated();
