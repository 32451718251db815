package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
)

// Sessions is the contract of ports.Sessions.
func Sessions(t *testing.T, setup Setup) {
	run(t, setup, "create, ByID and ByRefreshHash round-trip", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		want, _ := createSession(t, s, u.ID(), t0)
		got, err := s.Sessions.ByID(ctx, want.ID)
		mustNotFail(t, "ByID", err)
		if d := diffSession(got, want); d != "" {
			t.Errorf("ByID differs:\n%s", d)
		}
		got, err = s.Sessions.ByRefreshHash(ctx, want.RefreshHash)
		mustNotFail(t, "ByRefreshHash", err)
		if d := diffSession(got, want); d != "" {
			t.Errorf("ByRefreshHash differs:\n%s", d)
		}
	})

	run(t, setup, "unknown sessions are ErrNotFound", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		createSession(t, s, u.ID(), t0)
		_, err := s.Sessions.ByID(ctx, session.ID(newID(t)))
		wantErr(t, "ByID", err, session.ErrNotFound)
		_, err = s.Sessions.ByRefreshHash(ctx, session.Hash("no such token"))
		wantErr(t, "ByRefreshHash", err, session.ErrNotFound)
		_, err = s.Sessions.ByRefreshHash(ctx, "")
		wantErr(t, "ByRefreshHash of the empty hash", err, session.ErrNotFound)
	})

	run(t, setup, "Rotate replaces the token once", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		old, tok := createSession(t, s, u.ID(), t0)
		t1 := t0.Add(10*time.Minute + 3*time.Microsecond)
		client := session.Client{IP: "198.51.100.9", UserAgent: "adaptertest/2.0"}
		rot, _ := session.PlanRotation(tok, []byte("nonce-0123456789"), client, policy, t1)

		got, gotUser, err := s.Sessions.Rotate(ctx, rot)
		mustNotFail(t, "Rotate", err)
		if gotUser.ID() != u.ID() || gotUser.Email() != u.Email() || !slices.Equal(gotUser.Roles(), u.Roles()) || gotUser.Status() != u.Status() {
			t.Errorf("Rotate returned user %+v, want %+v", gotUser.Snapshot(), u.Snapshot())
		}
		want := old
		want.PreviousHash, want.RefreshHash = old.RefreshHash, rot.Next
		want.RotationNonce, want.Generation = rot.Nonce, old.Generation+1
		want.RotatedAt, want.LastSeenAt, want.Client = t1, t1, client
		if d := diffSession(got, want); d != "" {
			t.Errorf("Rotate returned a session that differs:\n%s", d)
		}
		for _, h := range []session.TokenHash{rot.Next, rot.Presented} {
			stored, err := s.Sessions.ByRefreshHash(ctx, h)
			mustNotFail(t, "ByRefreshHash", err)
			if d := diffSession(stored, want); d != "" {
				t.Errorf("ByRefreshHash(%s) differs:\n%s", h, d)
			}
		}
		stored, err := s.Sessions.ByID(ctx, old.ID)
		mustNotFail(t, "ByID", err)
		if d := diffSession(stored, want); d != "" {
			t.Errorf("ByID differs:\n%s", d)
		}

		again, _ := session.PlanRotation(tok, []byte("nonce-other"), client, policy, t1.Add(time.Second))
		_, _, err = s.Sessions.Rotate(ctx, again)
		wantErr(t, "second Rotate of the same token", err, session.ErrNotRotated)
	})

	run(t, setup, "Rotate refuses tokens no live session holds", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		client := session.Client{IP: "198.51.100.9"}
		nonce := []byte("nonce")
		t1 := t0.Add(time.Minute)
		try := func(name string, r session.Rotation) {
			t.Helper()
			before, _ := s.Sessions.ByRefreshHash(ctx, r.Presented)
			_, _, err := s.Sessions.Rotate(ctx, r)
			wantErr(t, name, err, session.ErrNotRotated)
			if before.ID != "" {
				after, err := s.Sessions.ByID(ctx, before.ID)
				mustNotFail(t, name+": ByID", err)
				if d := diffSession(after, before); d != "" {
					t.Errorf("%s: a refused Rotate changed the session:\n%s", name, d)
				}
			}
		}

		r, _ := session.PlanRotation("never issued", nonce, client, policy, t1)
		try("unknown token", r)

		_, tok := createSession(t, s, u.ID(), t0)
		r, _ = session.PlanRotation(tok, nonce, client, policy, t1)
		_, _, err := s.Sessions.Rotate(ctx, r)
		mustNotFail(t, "first Rotate", err)
		r, _ = session.PlanRotation(tok, []byte("other"), client, policy, t1.Add(time.Second))
		try("previous token", r)

		revoked, tok := createSession(t, s, u.ID(), t0)
		ok, err := s.Sessions.Revoke(ctx, revoked.ID, session.ReasonManual, t1)
		if err != nil || !ok {
			t.Fatalf("Revoke = %v, %v; want true, nil", ok, err)
		}
		r, _ = session.PlanRotation(tok, nonce, client, policy, t1.Add(time.Second))
		try("revoked session", r)

		expired, tok := createSession(t, s, u.ID(), t0)
		r, _ = session.PlanRotation(tok, nonce, client, policy, expired.ExpiresAt)
		r.IdleCutoff = t0 // not idle: only the absolute expiry applies
		try("expired session (At == ExpiresAt)", r)

		idle, tok := createSession(t, s, u.ID(), t0)
		r, _ = session.PlanRotation(tok, nonce, client, policy, idle.LastSeenAt.Add(policy.IdleTimeout+time.Microsecond))
		try("idle session (LastSeenAt < IdleCutoff)", r)

		// The boundaries are inclusive the other way: a session last seen
		// exactly at the cutoff, one microsecond before expiry, still rotates.
		edge, tok := createSession(t, s, u.ID(), t0)
		r, _ = session.PlanRotation(tok, nonce, client, policy, edge.ExpiresAt.Add(-time.Microsecond))
		r.IdleCutoff = edge.LastSeenAt
		if _, _, err := s.Sessions.Rotate(ctx, r); err != nil {
			t.Fatalf("Rotate at the boundaries: %v", err)
		}
	})

	run(t, setup, "every rotated token finds its session until it ends SE11", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		ss, tok := createSession(t, s, u.ID(), t0)
		chain := rotateTimes(t, s, ss, tok, 3)
		for i, h := range chain[:3] {
			got, err := s.Sessions.ByRefreshHash(ctx, h)
			mustNotFail(t, fmt.Sprintf("ByRefreshHash of generation %d", i), err)
			if got.ID != ss.ID || got.RefreshHash != chain[3] {
				t.Errorf("generation %d found session %s holding %s, want %s holding %s", i, got.ID, got.RefreshHash, ss.ID, chain[3])
			}
		}
		// Rotations and the end of a session roll back with their
		// transaction, rotated tokens included.
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			r, _ := session.PlanRotation("never issued", []byte("nonce"), ss.Client, policy, t0.Add(time.Hour))
			r.Presented = chain[3]
			if _, _, err := s.Sessions.Rotate(ctx, r); err != nil {
				return err
			}
			if _, err := s.Sessions.Revoke(ctx, ss.ID, session.ReasonReuse, t0.Add(time.Hour)); err != nil {
				return err
			}
			return errBoom
		})
		wantErr(t, "WithinTx", err, errBoom)
		if got, err := s.Sessions.ByRefreshHash(ctx, chain[0]); err != nil || got.RefreshHash != chain[3] || got.Revoked() {
			t.Fatalf("after rollback generation 0 finds %+v, %v; want the live session holding %s", got, err, chain[3])
		}
		// An ended session forgets the tokens it rotated out before its
		// previous one, however it ended.
		swept, sweptTok := createSession(t, s, u.ID(), t0)
		sweptChain := rotateTimes(t, s, swept, sweptTok, 2)
		if ok, err := s.Sessions.Revoke(ctx, ss.ID, session.ReasonReuse, t0.Add(time.Hour)); err != nil || !ok {
			t.Fatalf("Revoke = %v, %v", ok, err)
		}
		late := t0.Add(policy.AbsoluteLifetime + time.Hour)
		if _, err := s.Sessions.EndExpired(ctx, late, late.Add(-policy.IdleTimeout), 10); err != nil {
			t.Fatal(err)
		}
		for _, h := range []session.TokenHash{chain[0], chain[1], sweptChain[0]} {
			_, err := s.Sessions.ByRefreshHash(ctx, h)
			wantErr(t, "ByRefreshHash of an early generation of an ended session", err, session.ErrNotFound)
		}
	})

	run(t, setup, "of 20 concurrent Rotates of one token exactly one succeeds", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		ss, tok := createSession(t, s, u.ID(), t0)
		const n = 20
		rots := make([]session.Rotation, n)
		for i := range rots {
			rots[i], _ = session.PlanRotation(tok, fmt.Appendf(nil, "nonce-%02d", i), session.Client{IP: fmt.Sprintf("192.0.2.%d", i)}, policy, t0.Add(time.Minute))
		}
		results := make([]session.Session, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { results[i], _, errs[i] = s.Sessions.Rotate(ctx, rots[i]) })
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("Rotates %d and %d both succeeded", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, session.ErrNotRotated):
				t.Errorf("Rotate %d: got %v, want nil or ErrNotRotated", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no Rotate succeeded")
		}
		stored, err := s.Sessions.ByID(ctx, ss.ID)
		mustNotFail(t, "ByID", err)
		if stored.RefreshHash != rots[winner].Next || stored.PreviousHash != ss.RefreshHash || stored.Generation != 1 {
			t.Errorf("stored session %+v is not the winner's rotation (next %s)", stored, rots[winner].Next)
		}
		if d := diffSession(results[winner], stored); d != "" {
			t.Errorf("the winner's result differs from the stored session:\n%s", d)
		}
	})

	run(t, setup, "Revoke ends a session once", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		ss, _ := createSession(t, s, u.ID(), t0)
		t1 := t0.Add(time.Hour + 7*time.Microsecond)
		ok, err := s.Sessions.Revoke(ctx, ss.ID, session.ReasonManual, t1)
		if err != nil || !ok {
			t.Fatalf("Revoke = %v, %v; want true, nil", ok, err)
		}
		ok, err = s.Sessions.Revoke(ctx, ss.ID, session.ReasonForced, t1.Add(time.Hour))
		if err != nil || ok {
			t.Fatalf("second Revoke = %v, %v; want false, nil", ok, err)
		}
		ok, err = s.Sessions.Revoke(ctx, session.ID(newID(t)), session.ReasonManual, t1)
		if err != nil || ok {
			t.Fatalf("Revoke of an unknown session = %v, %v; want false, nil", ok, err)
		}
		got, err := s.Sessions.ByID(ctx, ss.ID)
		mustNotFail(t, "ByID", err)
		want := ss
		want.RevokedAt, want.RevokeReason = t1, session.ReasonManual
		if d := diffSession(got, want); d != "" {
			t.Errorf("revoked session differs:\n%s", d)
		}
	})

	run(t, setup, "RevokeUser ends every live session but keep", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u, other := createUser(t, s), createUser(t, s)
		keep, _ := createSession(t, s, u.ID(), t0)
		a, _ := createSession(t, s, u.ID(), t0)
		b, _ := createSession(t, s, u.ID(), t0)
		gone, _ := createSession(t, s, u.ID(), t0)
		others, _ := createSession(t, s, other.ID(), t0)
		if _, err := s.Sessions.Revoke(ctx, gone.ID, session.ReasonManual, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		t1 := t0.Add(time.Hour)
		ids, err := s.Sessions.RevokeUser(ctx, u.ID(), keep.ID, session.ReasonForced, t1)
		mustNotFail(t, "RevokeUser", err)
		want := []session.ID{a.ID, b.ID}
		slices.Sort(ids)
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("RevokeUser = %v, want %v", ids, want)
		}
		for _, c := range []struct {
			id      session.ID
			revoked bool
			at      time.Time
			reason  session.RevokeReason
		}{
			{keep.ID, false, time.Time{}, session.RevokeReason{}},
			{a.ID, true, t1, session.ReasonForced},
			{b.ID, true, t1, session.ReasonForced},
			{gone.ID, true, t0.Add(time.Minute), session.ReasonManual},
			{others.ID, false, time.Time{}, session.RevokeReason{}},
		} {
			got, err := s.Sessions.ByID(ctx, c.id)
			mustNotFail(t, "ByID", err)
			if got.Revoked() != c.revoked || !sameTime(got.RevokedAt, c.at) || got.RevokeReason != c.reason {
				t.Errorf("session %s: revoked at %v (%v), want %v (%v)", c.id, got.RevokedAt, got.RevokeReason, c.at, c.reason)
			}
		}

		ids, err = s.Sessions.RevokeUser(ctx, u.ID(), "", session.ReasonForced, t1.Add(time.Hour))
		mustNotFail(t, "RevokeUser without keep", err)
		if !slices.Equal(ids, []session.ID{keep.ID}) {
			t.Errorf("RevokeUser without keep = %v, want [%s]", ids, keep.ID)
		}
		ids, err = s.Sessions.RevokeUser(ctx, u.ID(), "", session.ReasonForced, t1.Add(2*time.Hour))
		mustNotFail(t, "RevokeUser with nothing left", err)
		if len(ids) != 0 {
			t.Errorf("RevokeUser with nothing left = %v, want none", ids)
		}
	})

	run(t, setup, "RevokedSince lists revocations at or after t, oldest first", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u, other := createUser(t, s), createUser(t, s)
		var ss []session.Session
		for _, uid := range []user.ID{u.ID(), other.ID(), u.ID(), u.ID()} {
			x, _ := createSession(t, s, uid, t0)
			ss = append(ss, x)
		}
		createSession(t, s, u.ID(), t0) // stays live: never listed
		// Revoke out of order: s[3] first at t3, then s[0] at t1, s[1] at t2, s[2] at t2+1µs.
		t1, t2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
		t3 := t0.Add(3 * time.Hour)
		revokeAt := map[int]time.Time{3: t3, 0: t1, 1: t2, 2: t2.Add(time.Microsecond)}
		for _, i := range []int{3, 0, 1, 2} {
			if ok, err := s.Sessions.Revoke(ctx, ss[i].ID, session.ReasonManual, revokeAt[i]); err != nil || !ok {
				t.Fatalf("Revoke %d = %v, %v", i, ok, err)
			}
		}
		got, err := s.Sessions.RevokedSince(ctx, t2)
		mustNotFail(t, "RevokedSince", err)
		want := []session.Revocation{
			{ID: ss[1].ID, UserID: other.ID(), At: t2},
			{ID: ss[2].ID, UserID: u.ID(), At: t2.Add(time.Microsecond)},
			{ID: ss[3].ID, UserID: u.ID(), At: t3},
		}
		if len(got) != len(want) {
			t.Fatalf("RevokedSince = %v, want %v", got, want)
		}
		for i := range want {
			if got[i].ID != want[i].ID || got[i].UserID != want[i].UserID || !sameTime(got[i].At, want[i].At) {
				t.Errorf("RevokedSince[%d] = %+v, want %+v", i, got[i], want[i])
			}
		}
		got, err = s.Sessions.RevokedSince(ctx, t3.Add(time.Microsecond))
		mustNotFail(t, "RevokedSince after the last", err)
		if len(got) != 0 {
			t.Errorf("RevokedSince after the last = %v, want none", got)
		}
	})
}

// SessionsLive is the contract of Sessions.Live.
func SessionsLive(t *testing.T, setup Setup) {
	run(t, setup, "Live lists the user's unrevoked, unexpired sessions, newest first", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u, other := createUser(t, s), createUser(t, s)
		old, _ := createSession(t, s, u.ID(), t0)
		recent, _ := createSession(t, s, u.ID(), t0.Add(time.Hour))
		ended, _ := createSession(t, s, u.ID(), t0.Add(2*time.Hour))
		createSession(t, s, other.ID(), t0.Add(3*time.Hour))
		_, err := s.Sessions.Revoke(ctx, ended.ID, session.ReasonManual, t0.Add(3*time.Hour))
		mustNotFail(t, "Revoke", err)
		live, err := s.Sessions.Live(ctx, u.ID(), t0.Add(4*time.Hour))
		mustNotFail(t, "Live", err)
		if len(live) != 2 || live[0].ID != recent.ID || live[1].ID != old.ID {
			t.Fatalf("Live = %v, want [%s %s]", ids(live), recent.ID, old.ID)
		}
		if d := diffSession(live[1], old); d != "" {
			t.Errorf("Live returned a session that differs:\n%s", d)
		}
		live, err = s.Sessions.Live(ctx, u.ID(), old.ExpiresAt)
		mustNotFail(t, "Live at the first one's end", err)
		if len(live) != 1 || live[0].ID != recent.ID {
			t.Fatalf("Live after the oldest expired = %v", ids(live))
		}
	})
}

func ids(ss []session.Session) []session.ID {
	out := make([]session.ID, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

// rotateTimes rotates the session n times, a minute apart, and returns the
// hash of every token of its chain, the live one last.
func rotateTimes(t *testing.T, s Stores, ss session.Session, tok string, n int) []session.TokenHash {
	t.Helper()
	chain := []session.TokenHash{ss.RefreshHash}
	for i := range n {
		r, next := session.PlanRotation(tok, fmt.Appendf(nil, "nonce-%d", i), ss.Client, policy, t0.Add(time.Duration(i+1)*time.Minute))
		if _, _, err := s.Sessions.Rotate(t.Context(), r); err != nil {
			t.Fatalf("Rotate %d: %v", i, err)
		}
		chain, tok = append(chain, r.Next), next
	}
	return chain
}
