-- 0003: see the Postgres migration of the same number.
DROP INDEX IF EXISTS outbox_pending_subject_idx;
CREATE INDEX outbox_leased_idx ON outbox (lease_until) WHERE status = 'pending' AND lease_until IS NOT NULL;
