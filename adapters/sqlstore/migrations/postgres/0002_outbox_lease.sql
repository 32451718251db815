-- 0002 outbox leases: the relay claims records by leasing them in a short
-- transaction and publishes outside it, so no database lock or connection
-- is held while the broker is slow or down. A record of a subject is never
-- claimed while an earlier record of the same subject is leased, which keeps
-- per-user order with any number of relays.
ALTER TABLE outbox ADD COLUMN lease_until timestamptz;
CREATE INDEX outbox_pending_subject_idx ON outbox (subject, seq) WHERE status = 'pending';
