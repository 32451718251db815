package memory

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/ports"
)

type outboxStatus int

const (
	pending outboxStatus = iota
	published
	parked
)

type outboxRow struct {
	rec         ports.OutboxRecord
	status      outboxStatus
	lastError   string
	publishedAt time.Time
	leaseUntil  time.Time
}

// Outbox is the in-memory ports.Outbox and ports.OutboxRelay.
type Outbox struct {
	s   *Store
	enc event.Encoder
}

// NewOutbox returns the store's outbox; enc makes the stored envelopes.
func NewOutbox(s *Store, enc event.Encoder) *Outbox { return &Outbox{s, enc} }

var (
	_ ports.Outbox        = (*Outbox)(nil)
	_ ports.OutboxRelay   = (*Outbox)(nil)
	_ ports.OutboxBacklog = (*Outbox)(nil)
)

// Backlog counts pending records and finds the oldest.
func (o *Outbox) Backlog(ctx context.Context) (int, time.Time, error) {
	defer o.s.lock(ctx)()
	n, oldest := 0, time.Time{}
	for _, r := range o.s.outbox {
		if r.status == pending {
			if n == 0 {
				oldest = r.rec.CreatedAt
			}
			n++
		}
	}
	return n, oldest, nil
}

// Append stores events as pending records.
func (o *Outbox) Append(ctx context.Context, events ...event.Event) error {
	rows := make([]*outboxRow, 0, len(events))
	for _, e := range events {
		b, err := o.enc(ctx, e)
		if err != nil {
			return fmt.Errorf("memory: encode %s: %w", e.Type, err)
		}
		rows = append(rows, &outboxRow{rec: ports.OutboxRecord{ID: e.ID, Type: e.Type, Key: e.Subject, Payload: b, CreatedAt: e.Time}})
	}
	defer o.s.lock(ctx)()
	n := len(o.s.outbox)
	o.s.outbox = append(o.s.outbox, rows...)
	onRollback(ctx, func() { o.s.outbox = o.s.outbox[:n] })
	return nil
}

// Claim leases up to n pending records, oldest first, skipping any whose
// key has a record under lease.
func (o *Outbox) Claim(ctx context.Context, n int, now, leaseUntil time.Time) ([]ports.OutboxRecord, error) {
	defer o.s.lock(ctx)()
	var out []ports.OutboxRecord
	blocked := map[string]bool{}
	for _, r := range o.s.outbox {
		if r.status == pending && r.leaseUntil.After(now) {
			blocked[r.rec.Key] = true
		}
	}
	for _, r := range o.s.outbox {
		if len(out) == n {
			break
		}
		switch {
		case r.status != pending, r.leaseUntil.After(now), blocked[r.rec.Key]:
		default:
			old := r.leaseUntil
			r.leaseUntil = leaseUntil
			onRollback(ctx, func() { r.leaseUntil = old })
			rec := r.rec
			rec.Payload = slices.Clone(rec.Payload)
			out = append(out, rec)
		}
	}
	return out, nil
}

// MarkPublished marks the records published at at.
func (o *Outbox) MarkPublished(ctx context.Context, ids []string, at time.Time) error {
	defer o.s.lock(ctx)()
	for _, r := range o.s.outbox {
		if r.status == pending && slices.Contains(ids, r.rec.ID) {
			old := *r
			r.status, r.publishedAt = published, at
			onRollback(ctx, func() { *r = old })
		}
	}
	return nil
}

// MarkFailed counts a failed attempt, and parks the record if park.
func (o *Outbox) MarkFailed(ctx context.Context, id, reason string, park bool) error {
	defer o.s.lock(ctx)()
	for _, r := range o.s.outbox {
		if r.rec.ID == id && r.status == pending {
			old := *r
			r.rec.Attempts++
			r.lastError = reason
			r.leaseUntil = time.Time{}
			if park {
				r.status = parked
			}
			onRollback(ctx, func() { *r = old })
		}
	}
	return nil
}

// Prune deletes records published before t.
func (o *Outbox) Prune(ctx context.Context, before time.Time) (int, error) {
	defer o.s.lock(ctx)()
	old := o.s.outbox
	kept := make([]*outboxRow, 0, len(old))
	for _, r := range old {
		if r.status != published || !r.publishedAt.Before(before) {
			kept = append(kept, r)
		}
	}
	o.s.outbox = kept
	onRollback(ctx, func() { o.s.outbox = old })
	return len(old) - len(kept), nil
}
