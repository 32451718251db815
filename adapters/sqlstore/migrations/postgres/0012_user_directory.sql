-- 0012: the user directory (administration's searchable, sorted user list).
--
-- last_login_at is the start of the user's newest session (NULL: never
-- signed in). A trigger keeps it, so no use case has to: every sign-in
-- inserts a session. It never moves back, and it is not a change of the
-- user, so version and updated_at stay as they are.
--
-- search_text is what the directory's text filter matches: the email, the
-- username and the lower-cased display name, joined by U+0001, which a
-- normalised query never holds, so a match cannot span two fields. The
-- adapter computes it in Go (strings.ToLower, as user.Query.Matches does)
-- on every write of the row; the backfill below uses lower(), which agrees
-- with it for every display name written so far.
ALTER TABLE users ADD COLUMN last_login_at timestamptz;
ALTER TABLE users ADD COLUMN search_text text NOT NULL DEFAULT '';
UPDATE users u SET
	search_text = u.email || chr(1) || u.username || chr(1) || lower(u.display_name),
	last_login_at = (SELECT max(s.created_at) FROM sessions s WHERE s.user_id = u.id);

CREATE FUNCTION users_record_login() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE users SET last_login_at = NEW.created_at
	WHERE id = NEW.user_id AND (last_login_at IS NULL OR last_login_at < NEW.created_at);
	RETURN NULL;
END $$;
CREATE TRIGGER sessions_record_login AFTER INSERT ON sessions
	FOR EACH ROW EXECUTE FUNCTION users_record_login();

-- Text search: LIKE '%x%' on search_text through trigrams (pg_trgm is a
-- trusted extension: the database owner may create it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_search_trgm_idx ON users USING gin (search_text gin_trgm_ops);

-- One index per keyset order, in exactly the order the directory sorts:
-- byte order (COLLATE "C", as user.Less compares) and a never-signed-in
-- user as -infinity, so an order is one index scan in either direction and
-- a page boundary one index condition.
CREATE INDEX users_created_at_idx ON users (created_at, id COLLATE "C");
CREATE INDEX users_email_order_idx ON users (email COLLATE "C", id COLLATE "C");
CREATE INDEX users_last_login_idx ON users ((coalesce(last_login_at, '-infinity'::timestamptz)), id COLLATE "C");

-- Filters rare enough to be worth finding by index rather than by
-- scanning an order and skipping.
CREATE INDEX users_roles_idx ON users USING gin (roles jsonb_path_ops);
CREATE INDEX users_status_created_idx ON users (status, created_at, id COLLATE "C");
CREATE INDEX users_mfa_created_idx ON users (created_at, id COLLATE "C") WHERE mfa_enabled;
CREATE INDEX users_unverified_created_idx ON users (created_at, id COLLATE "C") WHERE NOT email_verified;
