-- 0015: the audit chain grows a batch at a time: one INSERT of many
-- entries (an import batch, an erasure batch) and one move of the head
-- over them, so a batch holds the head for three statements, not three
-- per entry. An entry must extend the chain head or the entry stored just
-- before it past the head (a row-level BEFORE trigger sees the rows its
-- statement inserted before): by induction the entries past the head
-- chain on to it. The head moves forward onto a stored entry, never back.
CREATE OR REPLACE FUNCTION audit_log_extend_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM audit_head WHERE id = 1 AND seq + 1 = NEW.seq AND hash = NEW.prev_hash)
		AND NOT EXISTS (SELECT 1 FROM audit_log l JOIN audit_head h ON h.id = 1
			WHERE l.seq = NEW.seq - 1 AND l.seq > h.seq AND l.hash = NEW.prev_hash) THEN
		RAISE EXCEPTION 'audit: entry % does not extend the chain head', NEW.seq;
	END IF;
	RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION audit_head_advance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.id <> OLD.id OR NEW.seq <= OLD.seq
		OR NEW.hash IS DISTINCT FROM (SELECT hash FROM audit_log WHERE seq = NEW.seq) THEN
		RAISE EXCEPTION 'audit: the chain head moves forward onto a stored entry';
	END IF;
	RETURN NEW;
END $$;
