package crypto

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/token"
)

// countingVerifier accepts tokens named in valid and counts every call.
type countingVerifier struct {
	calls atomic.Int64
	mu    sync.Mutex
	valid map[string]time.Time // token → exp
}

func (f *countingVerifier) Verify(_ context.Context, raw string) (token.Claims, error) {
	f.calls.Add(1)
	f.mu.Lock()
	exp, ok := f.valid[raw]
	f.mu.Unlock()
	if !ok {
		return token.Claims{}, token.ErrInvalid.Wrap(errors.New("unknown test token"))
	}
	return token.Claims{Subject: "u-" + raw, SessionID: "s", Roles: []string{"r"}, ExpiresAt: exp}, nil
}

func (f *countingVerifier) add(raw string, exp time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.valid == nil {
		f.valid = map[string]time.Time{}
	}
	f.valid[raw] = exp
}

func newCache(t testing.TB, next *countingVerifier, clock *fakeClock, max int) *CachingVerifier {
	t.Helper()
	c, err := NewCachingVerifier(next, clock, max)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCachingVerifier_HitSkipsNext(t *testing.T) {
	clock, next := newFakeClock(), &countingVerifier{}
	next.add("tok", clock.Now().Add(time.Minute))
	c := newCache(t, next, clock, 100)
	for range 5 {
		got, err := c.Verify(t.Context(), "tok")
		if err != nil || got.Subject != "u-tok" {
			t.Fatalf("Verify = %+v, %v", got, err)
		}
	}
	if n := next.calls.Load(); n != 1 {
		t.Fatalf("next called %d times for 5 verifications, want 1", n)
	}
}

func TestCachingVerifier_FailuresNotCached(t *testing.T) {
	clock, next := newFakeClock(), &countingVerifier{}
	c := newCache(t, next, clock, 100)
	for range 3 {
		if _, err := c.Verify(t.Context(), "forged"); !errors.Is(err, token.ErrInvalid) {
			t.Fatalf("Verify(forged) = %v, want ErrInvalid", err)
		}
	}
	if n := next.calls.Load(); n != 3 || c.Len() != 0 {
		t.Fatalf("next called %d times, %d cached; want 3 and 0", n, c.Len())
	}
}

// TestCachingVerifier_ExpiryHonoured_SE02: a cached token stops passing at
// its exp exactly, and an already-expired success is never cached.
func TestCachingVerifier_ExpiryHonoured_SE02(t *testing.T) {
	clock, next := newFakeClock(), &countingVerifier{}
	exp := clock.Now().Add(time.Minute)
	next.add("tok", exp)
	c := newCache(t, next, clock, 100)
	if _, err := c.Verify(t.Context(), "tok"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute - time.Microsecond)
	if _, err := c.Verify(t.Context(), "tok"); err != nil || next.calls.Load() != 1 {
		t.Fatalf("just before exp: %v, %d calls", err, next.calls.Load())
	}
	clock.Advance(time.Microsecond)
	// The inner verifier has leeway and may still accept; the cache must ask it.
	if _, err := c.Verify(t.Context(), "tok"); err != nil {
		t.Fatal(err)
	}
	if n := next.calls.Load(); n != 2 {
		t.Fatalf("at exp next was called %d times in total, want 2 (no cache hit)", n)
	}
	if c.Len() != 0 {
		t.Fatalf("%d entries cached past exp", c.Len())
	}
}

// TestCachingVerifier_Bound: the cache never holds more than maxEntries,
// whatever the shard layout, and prefers to evict expired entries.
func TestCachingVerifier_Bound(t *testing.T) {
	for _, max := range []int{1, 3, 16, 100, 1000, 5000} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			clock, next := newFakeClock(), &countingVerifier{}
			c := newCache(t, next, clock, max)
			for i := range 3 * max {
				raw := fmt.Sprintf("tok-%d", i)
				next.add(raw, clock.Now().Add(time.Hour))
				if _, err := c.Verify(t.Context(), raw); err != nil {
					t.Fatal(err)
				}
				if n := c.Len(); n > max {
					t.Fatalf("%d entries after %d inserts, bound %d", n, i+1, max)
				}
			}
		})
	}
	// Expired entries go first: one live token survives a stream of
	// short-lived ones into a single-shard cache.
	clock, next := newFakeClock(), &countingVerifier{}
	c := newCache(t, next, clock, 4)
	next.add("live", clock.Now().Add(time.Hour))
	if _, err := c.Verify(t.Context(), "live"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		raw := fmt.Sprintf("short-%d", i)
		next.add(raw, clock.Now().Add(time.Second))
		if _, err := c.Verify(t.Context(), raw); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	calls := next.calls.Load()
	if _, err := c.Verify(t.Context(), "live"); err != nil || next.calls.Load() != calls {
		t.Fatalf("the live entry was evicted before expired ones (%v)", err)
	}
}

// TestCachingVerifier_HitAllocs: the hot path allocates nothing.
func TestCachingVerifier_HitAllocs(t *testing.T) {
	clock, next := newFakeClock(), &countingVerifier{}
	next.add("tok", clock.Now().Add(time.Hour))
	c := newCache(t, next, clock, 10000)
	ctx := t.Context()
	if _, err := c.Verify(ctx, "tok"); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = c.Verify(ctx, "tok") }); n != 0 {
		t.Fatalf("%v allocations per hit, want 0", n)
	}
}

// TestCachingVerifier_Concurrent exercises hits, misses, expiry and eviction
// from many goroutines (run with -race).
func TestCachingVerifier_Concurrent(t *testing.T) {
	clock, next := newFakeClock(), &countingVerifier{}
	for i := range 200 {
		next.add(fmt.Sprintf("tok-%d", i), clock.Now().Add(time.Duration(i)*time.Second))
	}
	c := newCache(t, next, clock, 64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				raw := fmt.Sprintf("tok-%d", (i*7+g)%200)
				if got, err := c.Verify(context.Background(), raw); err == nil && got.Subject != "u-"+raw {
					t.Errorf("Verify(%s) returned claims of %s", raw, got.Subject)
				}
				if i%500 == 0 {
					clock.Advance(time.Second)
				}
			}
		})
	}
	wg.Wait()
	if c.Len() > 64 {
		t.Fatalf("%d entries, bound 64", c.Len())
	}
}

func TestCachingVerifier_Validates(t *testing.T) {
	clock := newFakeClock()
	if _, err := NewCachingVerifier(nil, clock, 10); err == nil {
		t.Error("nil next accepted")
	}
	if _, err := NewCachingVerifier(&countingVerifier{}, clock, 0); err == nil {
		t.Error("maxEntries 0 accepted")
	}
}

func BenchmarkCachingVerifierHit(b *testing.B) {
	e := newJWTEnv(b, KeyRingConfig{})
	c, err := NewCachingVerifier(e.verifier, e.clock, 10000)
	if err != nil {
		b.Fatal(err)
	}
	raw := e.sign(b, e.claims())
	ctx := b.Context()
	if _, err := c.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Verify(ctx, raw); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
