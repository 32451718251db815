-- 0006: see the Postgres migration of the same number.
ALTER TABLE password_resets ADD COLUMN purpose TEXT NOT NULL DEFAULT 'password_reset';
DROP INDEX password_resets_user_idx;
CREATE INDEX password_resets_user_purpose_idx ON password_resets (user_id, purpose);
