-- 0006: password_resets holds every mailed one-time token; purpose keeps a
-- token of one kind from ever being accepted as another.
ALTER TABLE password_resets ADD COLUMN purpose text NOT NULL DEFAULT 'password_reset';
DROP INDEX password_resets_user_idx;
CREATE INDEX password_resets_user_purpose_idx ON password_resets (user_id, purpose);
