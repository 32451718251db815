package adaptertest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// OneTimeTokens is the contract of ports.OneTimeTokens (LG-07).
func OneTimeTokens(t *testing.T, setup Setup) {
	run(t, setup, "a token is single-use, expires, and a newer one replaces it", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		exp := t0.Add(time.Hour)
		mustNotFail(t, "Issue", s.Tokens.Issue(ctx, reset, u.ID(), "hash-1", t0, exp))
		uid, err := s.Tokens.Lookup(ctx, reset, "hash-1", t0.Add(time.Minute))
		mustNotFail(t, "Lookup", err)
		if uid != u.ID() {
			t.Fatalf("Lookup = %s", uid)
		}
		if _, err := s.Tokens.Lookup(ctx, reset, "hash-1", exp); !errors.Is(err, user.ErrNotFound) {
			t.Fatalf("Lookup at expiry: %v", err)
		}
		mustNotFail(t, "Issue a newer token", s.Tokens.Issue(ctx, reset, u.ID(), "hash-2", t0.Add(time.Minute), exp))
		if _, err := s.Tokens.Consume(ctx, reset, "hash-1", t0.Add(2*time.Minute)); !errors.Is(err, user.ErrNotFound) {
			t.Fatalf("the replaced token still works: %v", err)
		}
		uid, err = s.Tokens.Consume(ctx, reset, "hash-2", t0.Add(2*time.Minute))
		mustNotFail(t, "Consume", err)
		if uid != u.ID() {
			t.Fatalf("Consume = %s", uid)
		}
		if _, err := s.Tokens.Consume(ctx, reset, "hash-2", t0.Add(3*time.Minute)); !errors.Is(err, user.ErrNotFound) {
			t.Fatalf("second use: %v", err)
		}
	})

	run(t, setup, "of 10 concurrent uses exactly one wins; rollback restores; invalidate drops", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		mustNotFail(t, "Issue", s.Tokens.Issue(ctx, reset, u.ID(), "h", t0, t0.Add(time.Hour)))
		boom := errors.New("boom")
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if _, err := s.Tokens.Consume(ctx, reset, "h", t0); err != nil {
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
				if _, err := s.Tokens.Consume(ctx, reset, "h", t0); err == nil {
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
		mustNotFail(t, "Issue", s.Tokens.Issue(ctx, reset, u.ID(), "h2", t0, t0.Add(time.Hour)))
		mustNotFail(t, "InvalidateUser", s.Tokens.InvalidateUser(ctx, reset, u.ID()))
		if _, err := s.Tokens.Lookup(ctx, reset, "h2", t0); !errors.Is(err, user.ErrNotFound) {
			t.Fatalf("after InvalidateUser: %v", err)
		}
	})

	run(t, setup, "a token of one purpose is never accepted for another", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		mustNotFail(t, "Issue", s.Tokens.Issue(ctx, ports.PurposeEmailVerification, u.ID(), "hv", t0, t0.Add(time.Hour)))
		mustNotFail(t, "Issue", s.Tokens.Issue(ctx, reset, u.ID(), "hr", t0, t0.Add(time.Hour)))
		if _, err := s.Tokens.Consume(ctx, reset, "hv", t0); !errors.Is(err, user.ErrNotFound) {
			t.Fatalf("a verification token reset a password: %v", err)
		}
		if _, err := s.Tokens.Lookup(ctx, ports.PurposeEmailVerification, "hv", t0); err != nil {
			t.Fatalf("issuing a reset token dropped the verification token: %v", err)
		}
	})
}

const reset = ports.PurposePasswordReset
