-- 0001 init: users, credentials, sessions, outbox, signing keys.
-- Times are timestamptz (microsecond precision, as ports.Clock produces).

CREATE TABLE users (
	id             text        PRIMARY KEY,
	email          text        NOT NULL,
	username       text        NOT NULL,
	display_name   text        NOT NULL DEFAULT '',
	status         text        NOT NULL CHECK (status IN ('active', 'inactive', 'deleted')),
	roles          jsonb       NOT NULL,
	email_verified boolean     NOT NULL DEFAULT false,
	mfa_enabled    boolean     NOT NULL DEFAULT false,
	preferences    jsonb       NOT NULL DEFAULT '{}',
	created_at     timestamptz NOT NULL,
	updated_at     timestamptz NOT NULL,
	version        bigint      NOT NULL
);
-- The names are part of the code: unique violations are translated by them.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE credentials (
	user_id       text        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	password_hash text        NOT NULL,
	updated_at    timestamptz NOT NULL
);

CREATE TABLE sessions (
	id             text        PRIMARY KEY,
	user_id        text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	refresh_hash   text        NOT NULL,
	previous_hash  text,
	rotation_nonce bytea,
	generation     integer     NOT NULL DEFAULT 0,
	client_ip      text        NOT NULL DEFAULT '',
	user_agent     text        NOT NULL DEFAULT '',
	amr            jsonb       NOT NULL DEFAULT '[]',
	created_at     timestamptz NOT NULL,
	last_seen_at   timestamptz NOT NULL,
	rotated_at     timestamptz NOT NULL,
	expires_at     timestamptz NOT NULL,
	revoked_at     timestamptz,
	revoke_reason  text        NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX sessions_refresh_hash_key ON sessions (refresh_hash);
CREATE INDEX sessions_previous_hash_idx ON sessions (previous_hash) WHERE previous_hash IS NOT NULL;
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE outbox (
	seq          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id           text        NOT NULL,
	type         text        NOT NULL,
	subject      text        NOT NULL,
	payload      bytea       NOT NULL,
	status       text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'published', 'parked')),
	attempts     integer     NOT NULL DEFAULT 0,
	last_error   text        NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL,
	published_at timestamptz
);
CREATE UNIQUE INDEX outbox_id_key ON outbox (id);
CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE status = 'pending';
CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE status = 'published';

CREATE TABLE signing_keys (
	kid        text        PRIMARY KEY,
	seed       bytea       NOT NULL,
	created_at timestamptz NOT NULL
);
