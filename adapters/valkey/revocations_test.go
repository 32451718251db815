package valkey_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/adapters/system"
	"github.com/usermgmt/usermgmt/adapters/valkey"
	"github.com/usermgmt/usermgmt/adapters/valkey/valkeytest"
	"github.com/usermgmt/usermgmt/core/session"
)

// viaProxy opens a store whose connections pass through a proxy the test
// can cut, and a peer (another instance) on the same keys, connected
// directly.
func viaProxy(t *testing.T, keep time.Duration) (*valkey.RevokedSessions, *valkey.RevokedSessions, *valkeytest.Proxy) {
	t.Helper()
	peer := valkeytest.Open(t)
	p := valkeytest.NewProxy(t)
	s := valkeytest.OpenAt(t, p.Addr(), peer.Prefix())
	return valkey.NewRevokedSessions(s, system.Clock{}, keep), valkey.NewRevokedSessions(peer, system.Clock{}, keep), p
}

func TestRevokedSessionsContract(t *testing.T) {
	adaptertest.RevokedSessions(t, func(t *testing.T, keep time.Duration) adaptertest.RevocationRig {
		s, peer, p := viaProxy(t, keep)
		return adaptertest.RevocationRig{Store: s, Peer: peer, Cut: p.Cut}
	})
}

// TestRevokedSessions_KeyExpiresAfterTheTokenLifetime: the key lives until
// At plus keep, counted from At, not from Add.
func TestRevokedSessions_KeyExpiresAfterTheTokenLifetime(t *testing.T) {
	keep := 15*time.Minute + 30*time.Second
	r := valkey.NewRevokedSessions(valkeytest.Open(t), system.Clock{}, keep)
	now := time.Now()
	err := r.Add(t.Context(), session.Revocation{ID: "now", At: now}, session.Revocation{ID: "earlier", At: now.Add(-10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[session.ID]time.Duration{"now": keep, "earlier": keep - 10*time.Minute} {
		ttl, err := r.TTL(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ttl > want || ttl < want-5*time.Second {
			t.Fatalf("%s: the server keeps it %v, want about %v", id, ttl, want)
		}
	}
}

// TestRevokedSessions_CacheServesChecksAndDiesWithTheConnection: a second
// check of a session is answered from memory; a dropped connection takes
// the cached answers with it, so a revocation made while the instance was
// cut off (whose invalidation it never received) is seen once it is back,
// and meanwhile every check fails.
func TestRevokedSessions_CacheServesChecksAndDiesWithTheConnection(t *testing.T) {
	s, peer, p := viaProxy(t, time.Hour)
	ctx := t.Context()
	check := func(id session.ID) (bool, bool, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return s.Check(ctx, id)
	}
	if revoked, cached, err := check("s1"); err != nil || revoked || cached {
		t.Fatalf("first check: revoked=%v cached=%v err=%v, want read from the server", revoked, cached, err)
	}
	if revoked, cached, err := check("s1"); err != nil || revoked || !cached {
		t.Fatalf("second check: revoked=%v cached=%v err=%v, want served from memory", revoked, cached, err)
	}

	p.Cut()
	if err := peer.Add(ctx, session.Revocation{ID: "s1", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// Until the client reads the dropped connection it may still answer
	// from memory; then every check fails (LO-06).
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, cached, err := check("s1")
		if err != nil {
			break
		}
		if !cached || time.Now().After(deadline) {
			t.Fatalf("with the server cut off: cached=%v, want an error", cached)
		}
		time.Sleep(10 * time.Millisecond)
	}

	p.Restore()
	for {
		revoked, cached, err := check("s1")
		if err == nil {
			if !revoked || cached {
				t.Fatalf("back online: revoked=%v cached=%v; the answer cached before the cut survived it", revoked, cached)
			}
			break
		}
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatalf("no answer after the server came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkIsRevoked: the check on the verify hot path, for a session
// checked before (the common case: a gateway presents the same token
// again and again), in Valkey with client-side caching, in Valkey read
// every time, and in process.
//
//	go test -run '^$' -bench IsRevoked -benchmem ./adapters/valkey/
func BenchmarkIsRevoked(b *testing.B) {
	ids := make([]session.ID, 1000)
	for i := range ids {
		ids[i] = session.ID("bench-" + strconv.Itoa(i))
	}
	run := func(b *testing.B, s interface {
		IsRevoked(context.Context, session.ID) (bool, error)
	}) {
		ctx := context.Background()
		for _, id := range ids { // warm
			if _, err := s.IsRevoked(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := s.IsRevoked(ctx, ids[i%len(ids)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	}
	b.Run("valkey", func(b *testing.B) {
		run(b, valkey.NewRevokedSessions(valkeytest.Open(b), system.Clock{}, time.Hour))
	})
	b.Run("valkey-round-trip", func(b *testing.B) { // what the cache saves
		run(b, valkey.Uncached{R: valkey.NewRevokedSessions(valkeytest.Open(b), system.Clock{}, time.Hour)})
	})
	b.Run("memory", func(b *testing.B) {
		run(b, memory.NewRevokedSessions(system.Clock{}, time.Hour))
	})
}
