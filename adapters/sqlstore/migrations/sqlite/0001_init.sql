-- 0001 init: users, credentials, sessions, outbox, signing keys.
-- Times are INTEGER Unix microseconds (UTC): exact round trips of
-- ports.Clock values and integer comparisons in SQL. Tables are STRICT so a
-- value of the wrong type fails instead of being stored.

CREATE TABLE users (
	id             TEXT    PRIMARY KEY NOT NULL,
	email          TEXT    NOT NULL,
	username       TEXT    NOT NULL,
	display_name   TEXT    NOT NULL DEFAULT '',
	status         TEXT    NOT NULL CHECK (status IN ('active', 'inactive', 'deleted')),
	roles          TEXT    NOT NULL CHECK (json_valid(roles)),
	email_verified INTEGER NOT NULL DEFAULT 0,
	mfa_enabled    INTEGER NOT NULL DEFAULT 0,
	preferences    TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(preferences)),
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	version        INTEGER NOT NULL
) STRICT;
-- The names are part of the code: unique violations are translated by them.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE credentials (
	user_id       TEXT    PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	password_hash TEXT    NOT NULL,
	updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
	id             TEXT    PRIMARY KEY NOT NULL,
	user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	refresh_hash   TEXT    NOT NULL,
	previous_hash  TEXT,
	rotation_nonce BLOB,
	generation     INTEGER NOT NULL DEFAULT 0,
	client_ip      TEXT    NOT NULL DEFAULT '',
	user_agent     TEXT    NOT NULL DEFAULT '',
	amr            TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(amr)),
	created_at     INTEGER NOT NULL,
	last_seen_at   INTEGER NOT NULL,
	rotated_at     INTEGER NOT NULL,
	expires_at     INTEGER NOT NULL,
	revoked_at     INTEGER,
	revoke_reason  TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE UNIQUE INDEX sessions_refresh_hash_key ON sessions (refresh_hash);
CREATE INDEX sessions_previous_hash_idx ON sessions (previous_hash) WHERE previous_hash IS NOT NULL;
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE outbox (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	id           TEXT    NOT NULL,
	type         TEXT    NOT NULL,
	subject      TEXT    NOT NULL,
	payload      BLOB    NOT NULL,
	status       TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'published', 'parked')),
	attempts     INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	published_at INTEGER
) STRICT;
CREATE UNIQUE INDEX outbox_id_key ON outbox (id);
CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE status = 'pending';
CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE status = 'published';

CREATE TABLE signing_keys (
	kid        TEXT    PRIMARY KEY NOT NULL,
	seed       BLOB    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;
