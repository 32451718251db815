-- 0007 second factors. Secrets (TOTP seeds, sent codes) are sealed by the
-- service (AES-256-GCM, bound to their user and use) before they get here;
-- backup codes and challenge tokens are stored only as SHA-256 hashes.
CREATE TABLE mfa_factors (
	user_id        text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	method         text        NOT NULL CHECK (method IN ('totp', 'sms', 'email')),
	secret         bytea,
	phone          text        NOT NULL DEFAULT '',
	last_used_step bigint      NOT NULL DEFAULT 0,
	created_at     timestamptz NOT NULL,
	PRIMARY KEY (user_id, method)
);

-- A factor being set up waits here until one valid code confirms it, so a
-- new authenticator never replaces the one in use before it works.
CREATE TABLE mfa_enrollments (
	user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	method     text        NOT NULL CHECK (method IN ('totp', 'sms', 'email')),
	secret     bytea       NOT NULL,
	phone      text        NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (user_id, method)
);

CREATE TABLE backup_codes (
	user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash  text        NOT NULL,
	created_at timestamptz NOT NULL,
	used_at    timestamptz,
	PRIMARY KEY (user_id, code_hash)
);

-- Sign-ins whose password was proven and whose second factor is due.
CREATE TABLE mfa_challenges (
	token_hash      text        PRIMARY KEY,
	user_id         text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	methods         jsonb       NOT NULL,
	client_ip       text        NOT NULL DEFAULT '',
	user_agent      text        NOT NULL DEFAULT '',
	attempts        integer     NOT NULL DEFAULT 0,
	prior_failures  integer     NOT NULL DEFAULT 0,
	created_at      timestamptz NOT NULL,
	expires_at      timestamptz NOT NULL,
	code_method     text        NOT NULL DEFAULT '',
	code            bytea,
	code_expires_at timestamptz
);
CREATE INDEX mfa_challenges_expires_idx ON mfa_challenges (expires_at);
