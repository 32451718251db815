package adaptertest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/session"
)

// SessionsLifecycle is the contract of the session operations beyond
// rotation: recognising a client, and ending
// sessions in batches (timeouts, an administrator's revoke-all).
func SessionsLifecycle(t *testing.T, setup Setup) {
	run(t, setup, "Known matches the same IP and user agent of another session", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u, other := createUser(t, s), createUser(t, s)
		first, _ := createSession(t, s, u.ID(), t0) // 203.0.113.7, adaptertest/1.0
		_, _ = createSession(t, s, other.ID(), t0)
		seen := first.Client
		for _, c := range []struct {
			name   string
			client session.Client
			except session.ID
			want   bool
		}{
			{"same client", seen, "", true},
			{"same client, only itself", seen, first.ID, false},
			{"another address", session.Client{IP: "198.51.100.1", UserAgent: seen.UserAgent}, "", false},
			{"another browser", session.Client{IP: seen.IP, UserAgent: "other/2.0"}, "", false},
		} {
			if got, err := s.Sessions.Known(ctx, u.ID(), c.client, c.except); got != c.want || err != nil {
				t.Errorf("%s: Known = %v, %v; want %v", c.name, got, err, c.want)
			}
		}
		if _, err := s.Sessions.Revoke(ctx, first.ID, session.ReasonManual, t0); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Sessions.Known(ctx, u.ID(), seen, ""); !got {
			t.Error("an ended session no longer counts as known")
		}
		if got, _ := s.Sessions.Known(ctx, createUser(t, s).ID(), seen, ""); got {
			t.Error("another user's sessions count as known")
		}
	})

	run(t, setup, "EndExpired ends idle and overdue sessions in batches, once", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		fresh, _ := createSession(t, s, u.ID(), t0.Add(6*24*time.Hour)) // seen recently
		overdue, _ := createSession(t, s, u.ID(), t0.Add(-31*24*time.Hour))
		idle := make([]session.Session, 5)
		for i := range idle {
			idle[i], _ = createSession(t, s, u.ID(), t0)
		}
		ended, _ := createSession(t, s, u.ID(), t0)
		if _, err := s.Sessions.Revoke(ctx, ended.ID, session.ReasonManual, t0); err != nil {
			t.Fatal(err)
		}
		now := t0.Add(8 * 24 * time.Hour)
		cutoff := now.Add(-policy.IdleTimeout)
		var all []session.Revocation
		for range 10 {
			batch, err := s.Sessions.EndExpired(ctx, now, cutoff, 4)
			mustNotFail(t, "EndExpired", err)
			if len(batch) > 4 {
				t.Fatalf("batch of %d over the limit of 4", len(batch))
			}
			if len(batch) == 0 {
				break
			}
			all = append(all, batch...)
		}
		var ids []session.ID
		for _, r := range all {
			ids = append(ids, r.ID)
			if r.UserID != u.ID() || !sameTime(r.At, now) {
				t.Errorf("revocation %+v", r)
			}
		}
		want := []session.ID{overdue.ID}
		for _, x := range idle {
			want = append(want, x.ID)
		}
		slices.Sort(ids)
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Fatalf("ended %v, want %v", ids, want)
		}
		for _, id := range want {
			got, _ := s.Sessions.ByID(ctx, id)
			if got.RevokeReason != session.ReasonTimeout {
				t.Errorf("session %s ended with %q", id, got.RevokeReason)
			}
		}
		if got, _ := s.Sessions.ByID(ctx, ended.ID); got.RevokeReason != session.ReasonManual || !sameTime(got.RevokedAt, t0) {
			t.Errorf("an already ended session was ended again: %+v", got)
		}
		if got, _ := s.Sessions.ByID(ctx, fresh.ID); got.Revoked() {
			t.Error("a live session was ended")
		}
	})

	run(t, setup, "concurrent sweeps never end one session twice; rollback restores", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		for range 12 {
			createSession(t, s, u.ID(), t0)
		}
		now := t0.Add(8 * 24 * time.Hour)
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if got, err := s.Sessions.EndExpired(ctx, now, now.Add(-policy.IdleTimeout), 100); err != nil || len(got) != 12 {
				t.Errorf("in the transaction: %d ended, %v", len(got), err)
			}
			return errBoom
		})
		wantErr(t, "WithinTx", err, errBoom)
		var mu sync.Mutex
		seen := map[session.ID]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					batch, err := s.Sessions.EndExpired(ctx, now, now.Add(-policy.IdleTimeout), 2)
					if err != nil {
						t.Errorf("EndExpired: %v", err)
						return
					}
					if len(batch) == 0 {
						return
					}
					mu.Lock()
					for _, r := range batch {
						seen[r.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 12 {
			t.Fatalf("%d sessions ended, want 12", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("session %s ended %d times", id, n)
			}
		}
	})

	run(t, setup, "EndAll ends every live session of every user", func(t *testing.T, s Stores) {
		ctx := t.Context()
		a, b := createUser(t, s), createUser(t, s)
		one, _ := createSession(t, s, a.ID(), t0)
		createSession(t, s, a.ID(), t0)
		createSession(t, s, b.ID(), t0)
		var total int
		for {
			batch, err := s.Sessions.EndAll(ctx, session.ReasonForced, t0.Add(time.Hour), 2)
			mustNotFail(t, "EndAll", err)
			if len(batch) == 0 {
				break
			}
			total += len(batch)
		}
		if total != 3 {
			t.Fatalf("EndAll ended %d, want 3", total)
		}
		if got, _ := s.Sessions.ByID(ctx, one.ID); got.RevokeReason != session.ReasonForced {
			t.Errorf("reason = %q, want forced", got.RevokeReason)
		}
		if live, _ := s.Sessions.Live(ctx, a.ID(), t0); len(live) != 0 {
			t.Errorf("user a still has %d live sessions", len(live))
		}
		if live, _ := s.Sessions.Live(ctx, b.ID(), t0); len(live) != 0 {
			t.Errorf("user b still has %d live sessions", len(live))
		}
	})
}
