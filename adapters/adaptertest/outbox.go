package adaptertest

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/ports"
)

// newEvent returns a user.login event about subject at when.
func newEvent(t *testing.T, subject string, when time.Time) event.Event {
	t.Helper()
	return event.New(newID(t), subject, when, event.UserLogin{UserID: subject, LoginMethod: event.MethodPassword,
		IPAddress: "203.0.113.7", UserAgent: "adaptertest/1.0", SessionID: newID(t)})
}

// checkClaimed fails unless recs are exactly events, in order, as the relay
// must see them.
func checkClaimed(t *testing.T, recs []ports.OutboxRecord, attempts map[string]int, events ...event.Event) {
	t.Helper()
	if len(recs) != len(events) {
		ids := make([]string, len(recs))
		for i, r := range recs {
			ids[i] = r.ID
		}
		t.Fatalf("claimed %d records %v, want %d", len(recs), ids, len(events))
	}
	enc := Encoder()
	for i, e := range events {
		r := recs[i]
		payload, err := enc(context.Background(), e)
		mustNotFail(t, "encode", err)
		if r.ID != e.ID || r.Type != e.Type || r.Key != e.Subject || r.Attempts != attempts[e.ID] || !sameTime(r.CreatedAt, e.Time) {
			t.Errorf("record %d = {ID:%s Type:%s Key:%s Attempts:%d CreatedAt:%v}, want {ID:%s Type:%s Key:%s Attempts:%d CreatedAt:%v}",
				i, r.ID, r.Type, r.Key, r.Attempts, r.CreatedAt, e.ID, e.Type, e.Subject, attempts[e.ID], e.Time)
		}
		if !bytes.Equal(r.Payload, payload) {
			t.Errorf("record %d payload:\n got %s\nwant %s", i, r.Payload, payload)
		}
	}
}

// peek claims with a lease that has already ended, so the records stay
// claimable: for tests about what is pending, not about leases.
func peek(ctx context.Context, s Stores, n int) ([]ports.OutboxRecord, error) {
	return s.Relay.Claim(ctx, n, t0, t0)
}

// Outbox is the contract of ports.Outbox and ports.OutboxRelay.
func Outbox(t *testing.T, setup Setup) {
	run(t, setup, "Claim returns appended events oldest first with the encoder's bytes", func(t *testing.T, s Stores) {
		ctx := t.Context()
		recs, err := peek(ctx, s, 10)
		mustNotFail(t, "Claim of an empty outbox", err)
		if len(recs) != 0 {
			t.Fatalf("empty outbox claimed %d records", len(recs))
		}
		u1, u2 := newID(t), newID(t)
		e1, e2, e3 := newEvent(t, u1, t0), newEvent(t, u2, t0.Add(time.Microsecond)), newEvent(t, u1, t0.Add(time.Second))
		mustNotFail(t, "Append", s.Outbox.Append(ctx, e1, e2))
		mustNotFail(t, "Append", s.Outbox.Append(ctx, e3))
		mustNotFail(t, "Append of nothing", s.Outbox.Append(ctx))

		recs, err = peek(ctx, s, 10)
		mustNotFail(t, "Claim", err)
		checkClaimed(t, recs, nil, e1, e2, e3)
		recs, err = peek(ctx, s, 2)
		mustNotFail(t, "Claim 2", err)
		checkClaimed(t, recs, nil, e1, e2)
	})

	run(t, setup, "MarkPublished takes records out of the pending set", func(t *testing.T, s Stores) {
		ctx := t.Context()
		subj := newID(t)
		e1, e2, e3 := newEvent(t, subj, t0), newEvent(t, subj, t0.Add(time.Second)), newEvent(t, subj, t0.Add(2*time.Second))
		mustNotFail(t, "Append", s.Outbox.Append(ctx, e1, e2, e3))
		mustNotFail(t, "MarkPublished", s.Relay.MarkPublished(ctx, []string{e1.ID, e3.ID}, t0.Add(time.Minute)))
		mustNotFail(t, "MarkPublished of nothing", s.Relay.MarkPublished(ctx, nil, t0.Add(time.Minute)))
		recs, err := peek(ctx, s, 10)
		mustNotFail(t, "Claim", err)
		checkClaimed(t, recs, nil, e2)
	})

	run(t, setup, "MarkFailed counts attempts; park takes the record out", func(t *testing.T, s Stores) {
		ctx := t.Context()
		subj := newID(t)
		e1, e2 := newEvent(t, subj, t0), newEvent(t, subj, t0.Add(time.Second))
		mustNotFail(t, "Append", s.Outbox.Append(ctx, e1, e2))
		mustNotFail(t, "MarkFailed", s.Relay.MarkFailed(ctx, e1.ID, "broker unavailable", false))
		mustNotFail(t, "MarkFailed", s.Relay.MarkFailed(ctx, e1.ID, "broker unavailable again", false))
		recs, err := peek(ctx, s, 10)
		mustNotFail(t, "Claim", err)
		checkClaimed(t, recs, map[string]int{e1.ID: 2}, e1, e2)

		mustNotFail(t, "MarkFailed park", s.Relay.MarkFailed(ctx, e2.ID, "message too large", true))
		recs, err = peek(ctx, s, 10)
		mustNotFail(t, "Claim", err)
		checkClaimed(t, recs, map[string]int{e1.ID: 2}, e1)
	})

	run(t, setup, "Prune deletes records published before t", func(t *testing.T, s Stores) {
		ctx := t.Context()
		subj := newID(t)
		e1, e2, e3 := newEvent(t, subj, t0), newEvent(t, subj, t0.Add(time.Second)), newEvent(t, subj, t0.Add(2*time.Second))
		e4 := newEvent(t, subj, t0.Add(3*time.Second))
		mustNotFail(t, "Append", s.Outbox.Append(ctx, e1, e2, e3, e4))
		t1, t2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
		mustNotFail(t, "MarkPublished", s.Relay.MarkPublished(ctx, []string{e1.ID}, t1))
		mustNotFail(t, "MarkPublished", s.Relay.MarkPublished(ctx, []string{e2.ID}, t2))
		mustNotFail(t, "MarkFailed park", s.Relay.MarkFailed(ctx, e4.ID, "poison", true))

		n, err := s.Relay.Prune(ctx, t2) // strictly before: e2 (published at t2) stays
		mustNotFail(t, "Prune", err)
		if n != 1 {
			t.Errorf("Prune(t2) = %d, want 1", n)
		}
		n, err = s.Relay.Prune(ctx, t2.Add(time.Microsecond))
		mustNotFail(t, "Prune", err)
		if n != 1 {
			t.Errorf("Prune(t2+1µs) = %d, want 1", n)
		}
		n, err = s.Relay.Prune(ctx, t2.Add(time.Hour))
		mustNotFail(t, "Prune", err)
		if n != 0 {
			t.Errorf("Prune of nothing published = %d, want 0 (pending and parked records stay)", n)
		}
		recs, err := peek(ctx, s, 10)
		mustNotFail(t, "Claim", err)
		checkClaimed(t, recs, nil, e3)
	})

	run(t, setup, "Claim and MarkPublished work inside a transaction", func(t *testing.T, s Stores) {
		ctx := t.Context()
		e := newEvent(t, newID(t), t0)
		mustNotFail(t, "Append", s.Outbox.Append(ctx, e))
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			recs, err := peek(ctx, s, 10)
			if err != nil {
				return err
			}
			checkClaimed(t, recs, nil, e)
			return s.Relay.MarkPublished(ctx, []string{recs[0].ID}, t0.Add(time.Minute))
		})
		mustNotFail(t, "WithinTx", err)
		recs, err := peek(ctx, s, 10)
		mustNotFail(t, "Claim", err)
		checkClaimed(t, recs, nil)
	})

	run(t, setup, "A lease hides claimed records until it ends", func(t *testing.T, s Stores) {
		ctx := t.Context()
		e1, e2 := newEvent(t, newID(t), t0), newEvent(t, newID(t), t0.Add(time.Second))
		mustNotFail(t, "Append", s.Outbox.Append(ctx, e1, e2))
		recs, err := s.Relay.Claim(ctx, 10, t0, t0.Add(time.Minute))
		mustNotFail(t, "Claim", err)
		checkClaimed(t, recs, nil, e1, e2)
		recs, err = s.Relay.Claim(ctx, 10, t0.Add(30*time.Second), t0.Add(2*time.Minute))
		mustNotFail(t, "Claim under lease", err)
		checkClaimed(t, recs, nil)
		recs, err = s.Relay.Claim(ctx, 10, t0.Add(time.Minute), t0.Add(2*time.Minute))
		mustNotFail(t, "Claim after the lease", err)
		checkClaimed(t, recs, nil, e1, e2)
	})

	run(t, setup, "A key waits while an earlier record of it is leased", func(t *testing.T, s Stores) {
		ctx := t.Context()
		x, y := newID(t), newID(t)
		e1, e2, e3 := newEvent(t, x, t0), newEvent(t, y, t0.Add(time.Second)), newEvent(t, x, t0.Add(2*time.Second))
		mustNotFail(t, "Append", s.Outbox.Append(ctx, e1, e2, e3))
		recs, err := s.Relay.Claim(ctx, 1, t0, t0.Add(time.Minute))
		mustNotFail(t, "Claim 1", err)
		checkClaimed(t, recs, nil, e1)
		// Another relay: e3 must wait for e1, whatever else is pending.
		recs, err = s.Relay.Claim(ctx, 10, t0.Add(time.Second), t0.Add(time.Minute))
		mustNotFail(t, "Claim by another relay", err)
		checkClaimed(t, recs, nil, e2)
		mustNotFail(t, "MarkPublished", s.Relay.MarkPublished(ctx, []string{e1.ID}, t0.Add(2*time.Second)))
		recs, err = s.Relay.Claim(ctx, 10, t0.Add(3*time.Second), t0.Add(time.Minute))
		mustNotFail(t, "Claim after e1 was published", err)
		checkClaimed(t, recs, nil, e3)
	})

	run(t, setup, "MarkFailed ends the lease", func(t *testing.T, s Stores) {
		ctx := t.Context()
		e := newEvent(t, newID(t), t0)
		mustNotFail(t, "Append", s.Outbox.Append(ctx, e))
		_, err := s.Relay.Claim(ctx, 10, t0, t0.Add(time.Hour))
		mustNotFail(t, "Claim", err)
		mustNotFail(t, "MarkFailed", s.Relay.MarkFailed(ctx, e.ID, "broker down", false))
		recs, err := s.Relay.Claim(ctx, 10, t0.Add(time.Second), t0.Add(time.Hour))
		mustNotFail(t, "Claim after a failure", err)
		checkClaimed(t, recs, map[string]int{e.ID: 1}, e)
	})

	run(t, setup, "Concurrent claims are disjoint and keep each key with one relay", func(t *testing.T, s Stores) {
		ctx := t.Context()
		keys := []string{newID(t), newID(t), newID(t), newID(t)}
		var events []event.Event
		for i := range 24 {
			events = append(events, newEvent(t, keys[i%len(keys)], t0.Add(time.Duration(i)*time.Millisecond)))
		}
		mustNotFail(t, "Append", s.Outbox.Append(ctx, events...))
		claimed := make([][]ports.OutboxRecord, 4)
		var wg sync.WaitGroup
		for i := range claimed {
			wg.Go(func() {
				err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
					var err error
					claimed[i], err = s.Relay.Claim(ctx, 5, t0.Add(time.Second), t0.Add(time.Hour))
					return err
				})
				mustNotFail(t, "Claim", err)
			})
		}
		wg.Wait()
		seen := map[string]int{}
		owner := map[string]int{}
		for relay, recs := range claimed {
			for _, r := range recs {
				seen[r.ID]++
				if o, ok := owner[r.Key]; ok && o != relay {
					t.Errorf("key %s claimed by relays %d and %d at once", r.Key, o, relay)
				}
				owner[r.Key] = relay
			}
		}
		for id, n := range seen {
			if n > 1 {
				t.Errorf("record %s claimed %d times", id, n)
			}
		}
		if len(seen) == 0 {
			t.Fatal("nothing claimed")
		}
	})

	run(t, setup, "Backlog counts pending records and finds the oldest", func(t *testing.T, s Stores) {
		ctx := t.Context()
		n, oldest, err := s.Backlog.Backlog(ctx)
		mustNotFail(t, "Backlog of an empty outbox", err)
		if n != 0 || !oldest.IsZero() {
			t.Fatalf("empty outbox: %d pending, oldest %v", n, oldest)
		}
		e1, e2 := newEvent(t, newID(t), t0), newEvent(t, newID(t), t0.Add(time.Second))
		mustNotFail(t, "Append", s.Outbox.Append(ctx, e1, e2))
		mustNotFail(t, "MarkPublished", s.Relay.MarkPublished(ctx, []string{e1.ID}, t0.Add(time.Minute)))
		n, oldest, err = s.Backlog.Backlog(ctx)
		mustNotFail(t, "Backlog", err)
		if n != 1 || !sameTime(oldest, e2.Time) {
			t.Fatalf("Backlog = %d, %v; want 1, %v", n, oldest, e2.Time)
		}
	})
}
