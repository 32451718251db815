package adaptertest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/activity"
)

// Inbox is the contract of ports.ProcessedEvents and ports.Activities.
func Inbox(t *testing.T, setup Setup) {
	run(t, setup, "MarkProcessed is true once per consumer and event", func(t *testing.T, s Stores) {
		ctx := t.Context()
		id := newID(t)
		first, err := s.Processed.MarkProcessed(ctx, "usermgmt", id, t0)
		mustNotFail(t, "MarkProcessed", err)
		again, err := s.Processed.MarkProcessed(ctx, "usermgmt", id, t0.Add(time.Second))
		mustNotFail(t, "MarkProcessed again", err)
		other, err := s.Processed.MarkProcessed(ctx, "another-consumer", id, t0)
		mustNotFail(t, "MarkProcessed by another consumer", err)
		if !first || again || !other {
			t.Fatalf("first=%v again=%v other consumer=%v, want true false true", first, again, other)
		}
	})

	run(t, setup, "MarkProcessed: of 10 concurrent calls exactly one is first", func(t *testing.T, s Stores) {
		ctx := t.Context()
		id := newID(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		firsts := 0
		for range 10 {
			wg.Go(func() {
				first, err := s.Processed.MarkProcessed(ctx, "usermgmt", id, t0)
				mustNotFail(t, "MarkProcessed", err)
				if first {
					mu.Lock()
					firsts++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if firsts != 1 {
			t.Fatalf("%d calls saw the event as new, want 1", firsts)
		}
	})

	run(t, setup, "MarkProcessed rolls back with its transaction", func(t *testing.T, s Stores) {
		ctx := t.Context()
		id := newID(t)
		boom := errors.New("effect failed")
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if _, err := s.Processed.MarkProcessed(ctx, "usermgmt", id, t0); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithinTx = %v", err)
		}
		first, err := s.Processed.MarkProcessed(ctx, "usermgmt", id, t0)
		mustNotFail(t, "MarkProcessed after rollback", err)
		if !first {
			t.Fatal("a rolled-back effect left its event marked processed: the redelivery would be lost")
		}
	})

	run(t, setup, "Activities: zero record, round trip, rollback", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		a, err := s.Activities.ByUser(ctx, u.ID())
		mustNotFail(t, "ByUser of a user without a record", err)
		if a.UserID != u.ID() || a.ConnectedAccounts != 0 || !a.LastActivityAt.IsZero() {
			t.Fatalf("zero record = %+v", a)
		}
		want := activity.Activity{UserID: u.ID(), ConnectedAccounts: 2, Campaigns: 3, LastActivityAt: t0,
			Plan: "pro", Features: []string{"api", "exports"}, Restrictions: []activity.Restriction{activity.RestrictionReview},
			UpdatedAt: t0.Add(time.Second)}
		_, err = s.Activities.Update(ctx, u.ID(), func(a *activity.Activity) error { *a = want; return nil })
		mustNotFail(t, "Update", err)
		got, err := s.Activities.ByUser(ctx, u.ID())
		mustNotFail(t, "ByUser", err)
		if got.ConnectedAccounts != 2 || got.Campaigns != 3 || !sameTime(got.LastActivityAt, t0) || got.Plan != "pro" ||
			!slices.Equal(got.Features, want.Features) || !slices.Equal(got.Restrictions, want.Restrictions) ||
			!sameTime(got.UpdatedAt, want.UpdatedAt) {
			t.Fatalf("stored %+v, want %+v", got, want)
		}
		boom := errors.New("boom")
		err = s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if _, err := s.Activities.Update(ctx, u.ID(), func(a *activity.Activity) error { a.Campaigns = 99; return nil }); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithinTx = %v", err)
		}
		got, _ = s.Activities.ByUser(ctx, u.ID())
		if got.Campaigns != 3 {
			t.Fatalf("rollback kept campaigns = %d", got.Campaigns)
		}
	})

	run(t, setup, "Activities: concurrent updates lose no increment", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				_, err := s.Activities.Update(ctx, u.ID(), func(a *activity.Activity) error { a.Campaigns++; return nil })
				mustNotFail(t, "Update", err)
			})
		}
		wg.Wait()
		got, err := s.Activities.ByUser(ctx, u.ID())
		mustNotFail(t, "ByUser", err)
		if got.Campaigns != 10 {
			t.Fatalf("campaigns = %d after 10 concurrent increments", got.Campaigns)
		}
	})
}
