-- 0011: the audit trail; see the Postgres migration of the same number.
-- SQLite has no TRUNCATE: a DELETE of every row runs the triggers.
CREATE TABLE audit_log (
	seq        INTEGER PRIMARY KEY NOT NULL,
	at         INTEGER NOT NULL,
	actor_kind TEXT    NOT NULL CHECK (actor_kind IN ('user', 'apikey', 'system')),
	actor_id   TEXT    NOT NULL,
	action     TEXT    NOT NULL,
	target     TEXT    NOT NULL,
	org        TEXT    NOT NULL,
	ip         TEXT    NOT NULL,
	user_agent TEXT    NOT NULL,
	request_id TEXT    NOT NULL,
	outcome    TEXT    NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
	details    TEXT    NOT NULL CHECK (json_valid(details)),
	prev_hash  BLOB    NOT NULL CHECK (length(prev_hash) = 32),
	hash       BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, seq);
CREATE INDEX audit_log_target_idx ON audit_log (target, seq);
CREATE INDEX audit_log_action_idx ON audit_log (action, seq);
CREATE INDEX audit_log_org_idx ON audit_log (org, seq);
CREATE INDEX audit_log_at_idx ON audit_log (at);

CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
	seq  INTEGER NOT NULL,
	hash BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));

CREATE TABLE audit_checkpoint (
	id   INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
	seq  INTEGER NOT NULL,
	hash BLOB    NOT NULL CHECK (length(hash) = 32),
	at   INTEGER,
	mac  BLOB    NOT NULL CHECK (length(mac) = 32)
) STRICT;
INSERT INTO audit_checkpoint (id, seq, hash, at, mac) VALUES (1, 0, zeroblob(32), NULL, zeroblob(32));

CREATE TRIGGER audit_log_extend_head BEFORE INSERT ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_head WHERE id = 1 AND seq + 1 = NEW.seq AND hash = NEW.prev_hash)
BEGIN
	SELECT RAISE(ABORT, 'audit: the entry does not extend the chain head');
END;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit: UPDATE on audit_log refused: the audit trail is append-only');
END;
CREATE TRIGGER audit_log_pruned_only BEFORE DELETE ON audit_log
WHEN OLD.seq > (SELECT seq FROM audit_checkpoint WHERE id = 1)
BEGIN
	SELECT RAISE(ABORT, 'audit: the entry is past the checkpoint: only pruning deletes entries');
END;

CREATE TRIGGER audit_head_advance BEFORE UPDATE ON audit_head
WHEN NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1
	OR NEW.hash IS NOT (SELECT hash FROM audit_log WHERE seq = NEW.seq)
BEGIN
	SELECT RAISE(ABORT, 'audit: the chain head moves one stored entry at a time');
END;
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN
	SELECT RAISE(ABORT, 'audit: DELETE on audit_head refused: the audit trail is append-only');
END;

CREATE TRIGGER audit_checkpoint_advance BEFORE UPDATE ON audit_checkpoint
WHEN NEW.id <> OLD.id OR NEW.seq <= OLD.seq
	OR NEW.hash IS NOT (SELECT hash FROM audit_log WHERE seq = NEW.seq)
BEGIN
	SELECT RAISE(ABORT, 'audit: the checkpoint moves forward onto a stored entry');
END;
CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
BEGIN
	SELECT RAISE(ABORT, 'audit: DELETE on audit_checkpoint refused: the audit trail is append-only');
END;
