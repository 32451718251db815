package adaptertest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/user"
)

// ResetTokens is the contract of ports.ResetTokens (LG-07).
func ResetTokens(t *testing.T, setup Setup) {
	run(t, setup, "a token is single-use, expires, and a newer one replaces it", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		exp := t0.Add(time.Hour)
		mustNotFail(t, "Issue", s.Resets.Issue(ctx, u.ID(), "hash-1", t0, exp))
		uid, err := s.Resets.Lookup(ctx, "hash-1", t0.Add(time.Minute))
		mustNotFail(t, "Lookup", err)
		if uid != u.ID() {
			t.Fatalf("Lookup = %s", uid)
		}
		if _, err := s.Resets.Lookup(ctx, "hash-1", exp); !errors.Is(err, user.ErrNotFound) {
			t.Fatalf("Lookup at expiry: %v", err)
		}
		mustNotFail(t, "Issue a newer token", s.Resets.Issue(ctx, u.ID(), "hash-2", t0.Add(time.Minute), exp))
		if _, err := s.Resets.Consume(ctx, "hash-1", t0.Add(2*time.Minute)); !errors.Is(err, user.ErrNotFound) {
			t.Fatalf("the replaced token still works: %v", err)
		}
		uid, err = s.Resets.Consume(ctx, "hash-2", t0.Add(2*time.Minute))
		mustNotFail(t, "Consume", err)
		if uid != u.ID() {
			t.Fatalf("Consume = %s", uid)
		}
		if _, err := s.Resets.Consume(ctx, "hash-2", t0.Add(3*time.Minute)); !errors.Is(err, user.ErrNotFound) {
			t.Fatalf("second use: %v", err)
		}
	})

	run(t, setup, "of 10 concurrent uses exactly one wins; rollback restores; invalidate drops", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		mustNotFail(t, "Issue", s.Resets.Issue(ctx, u.ID(), "h", t0, t0.Add(time.Hour)))
		boom := errors.New("boom")
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if _, err := s.Resets.Consume(ctx, "h", t0); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithinTx = %v", err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 10 {
			wg.Go(func() {
				if _, err := s.Resets.Consume(ctx, "h", t0); err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d concurrent uses won, want 1", wins)
		}
		mustNotFail(t, "Issue", s.Resets.Issue(ctx, u.ID(), "h2", t0, t0.Add(time.Hour)))
		mustNotFail(t, "InvalidateUser", s.Resets.InvalidateUser(ctx, u.ID()))
		if _, err := s.Resets.Lookup(ctx, "h2", t0); !errors.Is(err, user.ErrNotFound) {
			t.Fatalf("after InvalidateUser: %v", err)
		}
	})
}
