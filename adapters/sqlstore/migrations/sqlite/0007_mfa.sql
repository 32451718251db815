-- 0007 second factors: see the Postgres migration of the same number.
CREATE TABLE mfa_factors (
	user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	method         TEXT    NOT NULL CHECK (method IN ('totp', 'sms', 'email')),
	secret         BLOB,
	phone          TEXT    NOT NULL DEFAULT '',
	last_used_step INTEGER NOT NULL DEFAULT 0,
	created_at     INTEGER NOT NULL,
	PRIMARY KEY (user_id, method)
) STRICT;

CREATE TABLE mfa_enrollments (
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	method     TEXT    NOT NULL CHECK (method IN ('totp', 'sms', 'email')),
	secret     BLOB    NOT NULL,
	phone      TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, method)
) STRICT;

CREATE TABLE backup_codes (
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash  TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	used_at    INTEGER,
	PRIMARY KEY (user_id, code_hash)
) STRICT;

CREATE TABLE mfa_challenges (
	token_hash      TEXT    PRIMARY KEY NOT NULL,
	user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	methods         TEXT    NOT NULL CHECK (json_valid(methods)),
	client_ip       TEXT    NOT NULL DEFAULT '',
	user_agent      TEXT    NOT NULL DEFAULT '',
	attempts        INTEGER NOT NULL DEFAULT 0,
	prior_failures  INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	code_method     TEXT    NOT NULL DEFAULT '',
	code            BLOB,
	code_expires_at INTEGER
) STRICT;
CREATE INDEX mfa_challenges_expires_idx ON mfa_challenges (expires_at);
