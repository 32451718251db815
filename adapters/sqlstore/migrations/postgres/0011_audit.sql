-- 0011: the audit trail (core/audit), an append-only hash chain. seq is
-- given by the appender, which holds the row lock of audit_head, so it has
-- no gaps. audit_checkpoint is where the chain restarts after pruning.
--
-- Triggers keep the tables append-only for anyone without DDL rights: an
-- entry must extend the chain head, the head moves one entry at a time onto
-- a stored entry, no entry is ever updated, and an entry is deleted only
-- once the checkpoint has moved past it (what pruning does first). The
-- chain's HMACs catch what the triggers cannot: an owner who drops them.
CREATE TABLE audit_log (
	seq        bigint      PRIMARY KEY,
	at         timestamptz NOT NULL,
	actor_kind text        NOT NULL CHECK (actor_kind IN ('user', 'apikey', 'system')),
	actor_id   text        NOT NULL,
	action     text        NOT NULL,
	target     text        NOT NULL,
	org        text        NOT NULL,
	ip         text        NOT NULL,
	user_agent text        NOT NULL,
	request_id text        NOT NULL,
	outcome    text        NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
	details    jsonb       NOT NULL,
	prev_hash  bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
	hash       bytea       NOT NULL CHECK (octet_length(hash) = 32)
);
-- Each filter with seq, for keyset pages newest first.
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, seq);
CREATE INDEX audit_log_target_idx ON audit_log (target, seq);
CREATE INDEX audit_log_action_idx ON audit_log (action, seq);
CREATE INDEX audit_log_org_idx ON audit_log (org, seq);
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- One row each, created here: appends lock the head's row.
CREATE TABLE audit_head (
	id   smallint PRIMARY KEY CHECK (id = 1),
	seq  bigint   NOT NULL,
	hash bytea    NOT NULL CHECK (octet_length(hash) = 32)
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- The genesis checkpoint (nothing pruned) is all zeros with no time.
CREATE TABLE audit_checkpoint (
	id   smallint    PRIMARY KEY CHECK (id = 1),
	seq  bigint      NOT NULL,
	hash bytea       NOT NULL CHECK (octet_length(hash) = 32),
	at   timestamptz,
	mac  bytea       NOT NULL CHECK (octet_length(mac) = 32)
);
INSERT INTO audit_checkpoint (id, seq, hash, at, mac)
	VALUES (1, 0, decode(repeat('00', 32), 'hex'), NULL, decode(repeat('00', 32), 'hex'));

CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit: % on % refused: the audit trail is append-only', TG_OP, TG_TABLE_NAME;
END $$;

CREATE FUNCTION audit_log_extend_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM audit_head WHERE id = 1 AND seq + 1 = NEW.seq AND hash = NEW.prev_hash) THEN
		RAISE EXCEPTION 'audit: entry % does not extend the chain head', NEW.seq;
	END IF;
	RETURN NEW;
END $$;

CREATE FUNCTION audit_log_pruned_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.seq > (SELECT seq FROM audit_checkpoint WHERE id = 1) THEN
		RAISE EXCEPTION 'audit: entry % is past the checkpoint: only pruning deletes entries', OLD.seq;
	END IF;
	RETURN OLD;
END $$;

CREATE FUNCTION audit_head_advance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1
		OR NEW.hash IS DISTINCT FROM (SELECT hash FROM audit_log WHERE seq = NEW.seq) THEN
		RAISE EXCEPTION 'audit: the chain head moves one stored entry at a time';
	END IF;
	RETURN NEW;
END $$;

CREATE FUNCTION audit_checkpoint_advance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.id <> OLD.id OR NEW.seq <= OLD.seq
		OR NEW.hash IS DISTINCT FROM (SELECT hash FROM audit_log WHERE seq = NEW.seq) THEN
		RAISE EXCEPTION 'audit: the checkpoint moves forward onto a stored entry';
	END IF;
	RETURN NEW;
END $$;

CREATE TRIGGER audit_log_extend_head BEFORE INSERT ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_extend_head();
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_log_pruned_only BEFORE DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_pruned_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();

CREATE TRIGGER audit_head_advance BEFORE UPDATE ON audit_head
	FOR EACH ROW EXECUTE FUNCTION audit_head_advance();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
	FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
	FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();

CREATE TRIGGER audit_checkpoint_advance BEFORE UPDATE ON audit_checkpoint
	FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_advance();
CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
	FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
	FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
