-- 0008: the sweep that ends expired sessions (and emits user.logout with
-- logoutType timeout) finds them by these partial indexes, which hold live
-- sessions only.
CREATE INDEX sessions_live_expires_idx ON sessions (expires_at) WHERE revoked_at IS NULL;
CREATE INDEX sessions_live_last_seen_idx ON sessions (last_seen_at) WHERE revoked_at IS NULL;
