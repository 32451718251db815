-- 0002 outbox leases: see the Postgres migration of the same number.
ALTER TABLE outbox ADD COLUMN lease_until INTEGER;
CREATE INDEX outbox_pending_subject_idx ON outbox (subject, seq) WHERE status = 'pending';
