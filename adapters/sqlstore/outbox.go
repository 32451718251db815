package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/text"
	"github.com/usermgmt/usermgmt/ports"
)

// Outbox statuses.
const (
	outboxPending   = "pending"
	outboxPublished = "published"
	outboxParked    = "parked"
)

// maxLastError bounds the stored text of a failed attempt.
const maxLastError = 2048

// Outbox stores events in the caller's transaction (ports.Outbox) and hands
// them to the relay (ports.OutboxRelay).
type Outbox struct {
	db  *DB
	enc event.Encoder
}

var (
	_ ports.Outbox      = (*Outbox)(nil)
	_ ports.OutboxRelay = (*Outbox)(nil)
)

// NewOutbox returns the outbox of db; Append stores enc's bytes for each
// event (the CloudEvents envelope the relay publishes unchanged).
func NewOutbox(db *DB, enc event.Encoder) *Outbox { return &Outbox{db: db, enc: enc} }

type outboxRow struct {
	bun.BaseModel `bun:"table:outbox,alias:o"`

	Seq         int64  `bun:"seq,scanonly"` // the append order, assigned by the database
	ID          string `bun:"id"`
	Type        string `bun:"type"`
	Subject     string `bun:"subject"`
	Payload     []byte `bun:"payload"`
	Status      string `bun:"status"`
	Attempts    int    `bun:"attempts"`
	LastError   string `bun:"last_error"`
	CreatedAt   dbTime `bun:"created_at"`
	PublishedAt dbTime `bun:"published_at"`
	LeaseUntil  dbTime `bun:"lease_until"` // NULL while no relay holds the record
}

func toOutboxRow(e event.Event, payload []byte) outboxRow {
	return outboxRow{ID: e.ID, Type: e.Type, Subject: e.Subject, Payload: payload,
		Status: outboxPending, CreatedAt: at(e.Time)}
}

func fromOutboxRow(r outboxRow) ports.OutboxRecord {
	return ports.OutboxRecord{ID: r.ID, Type: r.Type, Key: r.Subject, Payload: r.Payload,
		Attempts: r.Attempts, CreatedAt: r.CreatedAt.Time}
}

// Append encodes and stores events (one INSERT); with a ctx from WithinTx
// they commit or roll back with the caller's change.
func (o *Outbox) Append(ctx context.Context, events ...event.Event) error {
	if len(events) == 0 {
		return nil
	}
	if o.enc == nil {
		return errors.New("sqlstore: outbox has no encoder")
	}
	rows := make([]outboxRow, len(events))
	for i, e := range events {
		if e.ID == "" || e.Type == "" || e.Time.IsZero() {
			return fmt.Errorf("sqlstore: append event %q of type %q: id, type and time are required", e.ID, e.Type)
		}
		payload, err := o.enc(ctx, e)
		if err != nil {
			return fmt.Errorf("sqlstore: encode event %s: %w", e.ID, err)
		}
		rows[i] = toOutboxRow(e, payload)
	}
	if _, err := o.db.conn(ctx).NewInsert().Model(&rows).Exec(ctx); err != nil {
		return fmt.Errorf("sqlstore: insert %d outbox events: %w", len(rows), err)
	}
	return nil
}

// claimSQL leases the oldest claimable pending records: those whose lease
// has ended and whose subject has no record under lease (per-user order
// across relays). The leased subjects are few, so this is one pass over the
// pending records in append order that stops at the limit. On Postgres the
// candidates are taken FOR UPDATE SKIP LOCKED, and Claim first takes a
// transaction advisory lock so concurrent claims see each other's leases;
// SQLite's single writer serialises them anyway.
const claimSQL = `UPDATE outbox SET lease_until = ?
WHERE seq IN (
	SELECT o.seq FROM outbox o
	WHERE o.status = 'pending' AND (o.lease_until IS NULL OR o.lease_until <= ?)
	AND o.subject NOT IN (
		SELECT e.subject FROM outbox e
		WHERE e.status = 'pending' AND e.lease_until IS NOT NULL AND e.lease_until > ?)
	ORDER BY o.seq
	LIMIT ?%s)
RETURNING seq, id, type, subject, payload, attempts, created_at`

// claimLockKey is the advisory lock that serialises claims on Postgres.
const claimLockKey = 0x75736d67 // "usmg"

// Claim leases up to n records until leaseUntil and returns them in append
// order. Call it inside WithinTx, so the lease and the advisory lock belong
// to one short transaction.
func (o *Outbox) Claim(ctx context.Context, n int, now, leaseUntil time.Time) ([]ports.OutboxRecord, error) {
	if n <= 0 {
		return nil, nil
	}
	db := o.db.conn(ctx)
	lock := ""
	if o.db.postgres() {
		if _, err := db.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", claimLockKey); err != nil {
			return nil, fmt.Errorf("sqlstore: claim outbox events: lock: %w", err)
		}
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var rows []outboxRow
	err := db.NewRaw(fmt.Sprintf(claimSQL, lock), at(leaseUntil), at(now), at(now), n).Scan(ctx, &rows)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: claim outbox events: %w", err)
	}
	slices.SortFunc(rows, func(a, b outboxRow) int { return cmp.Compare(a.Seq, b.Seq) })
	out := make([]ports.OutboxRecord, len(rows))
	for i, r := range rows {
		out[i] = fromOutboxRow(r)
	}
	return out, nil
}

var _ ports.OutboxBacklog = (*Outbox)(nil)

// Backlog counts pending records and returns the oldest one's time.
func (o *Outbox) Backlog(ctx context.Context) (int, time.Time, error) {
	var row struct {
		N      int    `bun:"n"`
		Oldest dbTime `bun:"oldest"`
	}
	err := o.db.readConn(ctx).NewRaw(`SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE status = 'pending'`).Scan(ctx, &row)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("sqlstore: outbox backlog: %w", err)
	}
	return row.N, row.Oldest.Time, nil
}

// MarkPublished records the broker's ack for ids.
func (o *Outbox) MarkPublished(ctx context.Context, ids []string, when time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := o.db.conn(ctx).NewUpdate().Model((*outboxRow)(nil)).
		Set("status = ?", outboxPublished).
		Set("published_at = ?", at(when)).
		Where("o.id IN (?)", bun.List(ids)).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: mark %d outbox events published: %w", len(ids), err)
	}
	return nil
}

// MarkFailed counts a failed attempt of id and keeps reason; park takes the
// record out of the pending set for good. An unknown id is not an error.
func (o *Outbox) MarkFailed(ctx context.Context, id, reason string, park bool) error {
	q := o.db.conn(ctx).NewUpdate().Model((*outboxRow)(nil)).
		Set("attempts = o.attempts + 1").
		Set("last_error = ?", text.Truncate(reason, maxLastError)).
		Set("lease_until = NULL").
		Where("o.id = ?", id)
	if park {
		q = q.Set("status = ?", outboxParked)
	}
	if _, err := q.Exec(ctx); err != nil {
		return fmt.Errorf("sqlstore: mark outbox event %s failed: %w", id, err)
	}
	return nil
}

// Prune deletes records published before t and reports how many.
func (o *Outbox) Prune(ctx context.Context, before time.Time) (int, error) {
	res, err := o.db.conn(ctx).NewDelete().Model((*outboxRow)(nil)).
		Where("o.status = ?", outboxPublished).
		Where("o.published_at < ?", at(before)).
		Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune outbox: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune outbox: %w", err)
	}
	return int(n), nil
}
