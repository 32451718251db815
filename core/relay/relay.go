// Package relay moves events from the transactional outbox to the event bus:
// claim pending records, publish them, mark them published only after the
// bus acknowledged them. Delivery is at-least-once; consumers dedupe by id.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/usermgmt/usermgmt/ports"
)

// Config tunes the relay.
type Config struct {
	Batch        int           // records per claim (default 500)
	Interval     time.Duration // pause when the outbox is empty (default 200ms)
	MaxAttempts  int           // failed attempts before a record is parked (default 10)
	Retention    time.Duration // published records are pruned after this (default 24h)
	PruneEvery   time.Duration // how often to prune (default 10m)
	ErrorBackoff time.Duration // pause after a failed publish (default 1s)
	// Lease is how long claimed records stay hidden from other relays
	// (default 2m): longer than a publish can take, retries included, so a
	// record is published twice only when a relay died holding it.
	Lease time.Duration
	// OnPublished, if set, learns each published record's type and its
	// commit-to-ack latency (the time from the event to the broker's ack).
	OnPublished func(typ string, latency time.Duration)
	// OnParked, if set, learns of each record taken out of the pending set
	// after MaxAttempts failures: parked records need an operator.
	OnParked func(typ string)
}

func (c Config) withDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Batch <= 0 {
		c.Batch = 500
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	def(&c.Interval, 200*time.Millisecond)
	def(&c.Retention, 24*time.Hour)
	def(&c.PruneEvery, 10*time.Minute)
	def(&c.ErrorBackoff, time.Second)
	def(&c.Lease, 2*time.Minute)
	return c
}

// Relay drains the outbox into a publisher.
type Relay struct {
	tx        ports.Transactor
	outbox    ports.OutboxRelay
	pub       ports.EventPublisher
	clock     ports.Clock
	cfg       Config
	log       *slog.Logger
	lastPrune time.Time
	wake      chan struct{}
}

// New returns a Relay.
func New(tx ports.Transactor, outbox ports.OutboxRelay, pub ports.EventPublisher, clock ports.Clock, cfg Config, log *slog.Logger) (*Relay, error) {
	if tx == nil || outbox == nil || pub == nil || clock == nil {
		return nil, errors.New("relay.New: missing dependency")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{tx: tx, outbox: outbox, pub: pub, clock: clock, cfg: cfg.withDefaults(), log: log,
		wake: make(chan struct{}, 1)}, nil
}

// Notify tells an idle relay that events may have committed, so it claims
// them now instead of at its next poll: commit-to-ack stays in
// milliseconds without polling the database in a tight loop.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	for {
		n, err := r.Once(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			// A failing broker is not retried on every commit: wake-ups wait.
			r.log.WarnContext(ctx, "outbox relay: publish failed; records stay pending", "err", err)
			if !r.sleep(ctx, r.cfg.ErrorBackoff, nil) {
				return nil
			}
		case n == 0:
			if !r.sleep(ctx, r.cfg.Interval, r.wake) {
				return nil
			}
		}
	}
}

// sleep waits d, or until wake fires (nil: never); false when ctx ended.
func (r *Relay) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-wake:
	case <-timer.C:
	}
	return true
}

// Once claims, publishes and settles one batch and reports how many records
// it published. Claiming and settling are short transactions; publishing
// runs outside both. On a publish error every claimed record counts a
// failed attempt; a record that has failed MaxAttempts times is parked so
// it never blocks the rest.
func (r *Relay) Once(ctx context.Context) (int, error) {
	var recs []ports.OutboxRecord
	err := r.tx.WithinTx(ctx, func(ctx context.Context) error {
		now := r.clock.Now()
		var err error
		recs, err = r.outbox.Claim(ctx, r.cfg.Batch, now, now.Add(r.cfg.Lease))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("outbox relay: claim: %w", err)
	}
	if len(recs) == 0 {
		r.prune(ctx)
		return 0, nil
	}
	pubErr := r.pub.Publish(ctx, recs)
	acked := r.clock.Now()
	if pubErr == nil && r.cfg.OnPublished != nil {
		for _, rec := range recs {
			r.cfg.OnPublished(rec.Type, acked.Sub(rec.CreatedAt))
		}
	}
	err = r.tx.WithinTx(ctx, func(ctx context.Context) error {
		if pubErr == nil {
			ids := make([]string, len(recs))
			for i, rec := range recs {
				ids[i] = rec.ID
			}
			return r.outbox.MarkPublished(ctx, ids, acked)
		}
		for _, rec := range recs {
			park := rec.Attempts+1 >= r.cfg.MaxAttempts
			if err := r.outbox.MarkFailed(ctx, rec.ID, pubErr.Error(), park); err != nil {
				return err
			}
			if park {
				r.log.ErrorContext(ctx, "outbox relay: record parked", "id", rec.ID, "type", rec.Type, "attempts", rec.Attempts+1)
				if r.cfg.OnParked != nil {
					r.cfg.OnParked(rec.Type)
				}
			}
		}
		return nil
	})
	if err != nil {
		// The lease runs out and another round publishes them again.
		return 0, fmt.Errorf("outbox relay: settle: %w", err)
	}
	if pubErr != nil {
		return 0, pubErr
	}
	return len(recs), nil
}

func (r *Relay) prune(ctx context.Context) {
	now := r.clock.Now()
	if now.Sub(r.lastPrune) < r.cfg.PruneEvery {
		return
	}
	r.lastPrune = now
	if n, err := r.Prune(ctx); err != nil {
		r.log.WarnContext(ctx, "outbox relay: prune failed", "err", err)
	} else if n > 0 {
		r.log.DebugContext(ctx, "outbox relay: pruned", "records", n)
	}
}

// Prune deletes the records published longer ago than the retention and
// reports how many: what a running relay does every PruneEvery, on demand.
func (r *Relay) Prune(ctx context.Context) (int, error) {
	n, err := r.outbox.Prune(ctx, r.clock.Now().Add(-r.cfg.Retention))
	if err != nil {
		return 0, fmt.Errorf("outbox relay: prune: %w", err)
	}
	return n, nil
}
