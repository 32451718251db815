package adaptertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// RevocationRig is one implementation of ports.RevokedSessions under test.
type RevocationRig struct {
	Store ports.RevokedSessions
	// Peer is another instance over the same shared state (another
	// process's client), nil for an in-process implementation.
	Peer ports.RevokedSessions
	// Cut takes Store's server away for the rest of the test; nil for an
	// implementation that cannot lose one.
	Cut func()
}

// RevokedSessions is the contract of ports.RevokedSessions. setup returns
// a fresh rig whose stores keep each revocation for keep; keeps are short
// and real time, as a shared store's expiry is the server's.
func RevokedSessions(t *testing.T, setup func(t *testing.T, keep time.Duration) RevocationRig) {
	revoked := func(t *testing.T, s ports.RevokedSessions, id session.ID) bool {
		t.Helper()
		ok, err := s.IsRevoked(t.Context(), id)
		mustNotFail(t, "IsRevoked", err)
		return ok
	}
	rev := func(id session.ID, at time.Time) session.Revocation {
		return session.Revocation{ID: id, UserID: user.ID("u-" + string(id)), At: at}
	}

	t.Run("added ids are revoked, others are not", func(t *testing.T) {
		t.Parallel()
		r := setup(t, time.Hour)
		now := time.Now()
		if revoked(t, r.Store, "s1") {
			t.Fatal("an id nobody revoked is revoked")
		}
		mustNotFail(t, "Add", r.Store.Add(t.Context(), rev("s1", now), rev("s2", now.Add(-time.Minute))))
		for _, id := range []session.ID{"s1", "s2"} {
			if !revoked(t, r.Store, id) {
				t.Fatalf("%s was added but is not revoked", id)
			}
		}
		if revoked(t, r.Store, "s3") {
			t.Fatal("an id nobody revoked is revoked")
		}
		mustNotFail(t, "Add again", r.Store.Add(t.Context(), rev("s1", now)))
		mustNotFail(t, "Add nothing", r.Store.Add(t.Context()))
		if !revoked(t, r.Store, "s1") {
			t.Fatal("adding an id again unrevoked it")
		}
	})

	t.Run("many at once", func(t *testing.T) {
		t.Parallel()
		r := setup(t, time.Hour)
		now := time.Now()
		rs := make([]session.Revocation, 2500) // more than one pipeline's batch
		for i := range rs {
			rs[i] = rev(session.ID(fmt.Sprintf("m%d", i)), now)
		}
		mustNotFail(t, "Add", r.Store.Add(t.Context(), rs...))
		for _, x := range rs {
			if !revoked(t, r.Store, x.ID) {
				t.Fatalf("%s of %d added at once is not revoked", x.ID, len(rs))
			}
		}
		if revoked(t, r.Store, "m2500") {
			t.Fatal("an id beyond the batch is revoked")
		}
	})

	t.Run("kept for the window after At, then forgotten", func(t *testing.T) {
		t.Parallel()
		const keep = 2 * time.Second
		r := setup(t, keep)
		now := time.Now()
		mustNotFail(t, "Add", r.Store.Add(t.Context(),
			rev("fresh", now),
			rev("ending", now.Add(-keep+400*time.Millisecond)),
			rev("gone", now.Add(-keep-time.Second))))
		if !revoked(t, r.Store, "fresh") || !revoked(t, r.Store, "ending") {
			t.Fatal("a revocation inside its window is not revoked")
		}
		if revoked(t, r.Store, "gone") {
			t.Fatal("a revocation whose window had passed is revoked")
		}
		time.Sleep(time.Second) // past "ending"'s window, well inside "fresh"'s
		if revoked(t, r.Store, "ending") {
			t.Fatal("a revocation outlived At plus keep")
		}
		if !revoked(t, r.Store, "fresh") {
			t.Fatal("a revocation was forgotten inside its window")
		}
	})

	t.Run("another instance sees a revocation at once, even after caching its absence", func(t *testing.T) {
		t.Parallel()
		r := setup(t, time.Hour)
		if r.Peer == nil {
			t.Skip("in-process: no other instance")
		}
		for range 3 { // checked, then answered from wherever the peer keeps answers
			if revoked(t, r.Peer, "s1") {
				t.Fatal("an id nobody revoked is revoked")
			}
		}
		mustNotFail(t, "Add", r.Store.Add(t.Context(), rev("s1", time.Now())))
		// The peer learns by the server's push, which has left the server
		// by the time Add returns but is read by the peer's own connection:
		// allowed a moment, far less than the cache would otherwise hold a
		// stale "not revoked" (no timing is asserted beyond that).
		waitRevoked(t, r.Peer, "s1")
		if !revoked(t, r.Peer, "s1") {
			t.Fatal("the peer went back to not revoked")
		}
		mustNotFail(t, "Add", r.Peer.Add(t.Context(), rev("s2", time.Now())))
		if !revoked(t, r.Store, "s2") {
			t.Fatal("a revocation through the peer is not seen by an instance that never checked it")
		}
	})

	t.Run("fails closed when its server is gone (LO-06)", func(t *testing.T) {
		t.Parallel()
		r := setup(t, time.Hour)
		if r.Cut == nil {
			t.Skip("in-process: no server to lose")
		}
		for range 2 { // checked, then answered from wherever the store keeps answers
			if revoked(t, r.Store, "s1") {
				t.Fatal("an id nobody revoked is revoked")
			}
		}
		r.Cut()
		// The client notices the dropped connection when it reads it; from
		// then on no answer, cached or not, may be "not revoked".
		deadline := time.Now().Add(5 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			ok, err := r.Store.IsRevoked(ctx, "s1")
			cancel()
			if err != nil {
				break
			}
			if ok {
				t.Fatal("revoked without a server")
			}
			if time.Now().After(deadline) {
				t.Fatal("IsRevoked still answers without its server; want an error")
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, id := range []session.ID{"s1", "s2"} {
			if ok, err := r.Store.IsRevoked(t.Context(), id); err == nil {
				t.Fatalf("IsRevoked(%s) without a server: %v and no error", id, ok)
			}
		}
		if err := r.Store.Add(t.Context(), rev("s3", time.Now())); err == nil {
			t.Fatal("Add without a server reported success")
		}
	})
}

// waitRevoked waits briefly for s to report id revoked.
func waitRevoked(t *testing.T, s ports.RevokedSessions, id session.ID) {
	t.Helper()
	start := time.Now()
	for i := 0; ; i++ {
		ok, err := s.IsRevoked(t.Context(), id)
		mustNotFail(t, "IsRevoked", err)
		if ok {
			if i > 0 {
				t.Logf("%s seen revoked at check %d, after %v", id, i+1, time.Since(start))
			}
			return
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("%s is still not revoked after 2s", id)
		}
		time.Sleep(time.Millisecond)
	}
}
