-- 0003: claims look up the subjects that have a leased record (few) instead
-- of checking every pending record's predecessors, so the subject index of
-- 0002 gives way to one on the lease.
DROP INDEX IF EXISTS outbox_pending_subject_idx;
CREATE INDEX outbox_leased_idx ON outbox (lease_until) WHERE status = 'pending' AND lease_until IS NOT NULL;
