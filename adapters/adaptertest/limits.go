package adaptertest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/ports"
)

// LimitStores are the rate-limit ports of one implementation.
type LimitStores struct {
	Limiter  ports.RateLimiter
	Failures ports.FailureCounter
}

// Limits is the contract of ports.RateLimiter and ports.FailureCounter.
// Windows are real time (short ones), as the shared store's clock is.
func Limits(t *testing.T, setup func(t *testing.T) LimitStores) {
	t.Run("Take allows exactly the limit per window", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		ctx := t.Context()
		for i := range 3 {
			ok, _, err := s.Limiter.Take(ctx, "k", 3, time.Minute)
			mustNotFail(t, "Take", err)
			if !ok {
				t.Fatalf("attempt %d of 3 refused", i+1)
			}
		}
		ok, retry, err := s.Limiter.Take(ctx, "k", 3, time.Minute)
		mustNotFail(t, "Take", err)
		if ok || retry <= 0 || retry > time.Minute {
			t.Fatalf("fourth attempt: ok=%v retryAfter=%v, want refused within a minute", ok, retry)
		}
		if ok, _, _ := s.Limiter.Take(ctx, "other", 3, time.Minute); !ok {
			t.Fatal("another key shares the budget")
		}
	})

	t.Run("50 parallel takes spend exactly the budget (LG-04)", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		allowed := 0
		for range 50 {
			wg.Go(func() {
				ok, _, err := s.Limiter.Take(t.Context(), "burst", 20, time.Minute)
				mustNotFail(t, "Take", err)
				if ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if allowed != 20 {
			t.Fatalf("%d of 50 parallel attempts allowed, want exactly 20", allowed)
		}
	})

	t.Run("a new window restores the budget", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		ctx := t.Context()
		for range 2 {
			_, _, _ = s.Limiter.Take(ctx, "w", 1, 200*time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		if ok, _, err := s.Limiter.Take(ctx, "w", 1, 200*time.Millisecond); err != nil || !ok {
			t.Fatalf("after the window: ok=%v err=%v", ok, err)
		}
	})

	t.Run("attempts count, reset and expire", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		ctx := t.Context()
		n, _, err := s.Failures.Failures(ctx, "acct")
		mustNotFail(t, "Failures", err)
		if n != 0 {
			t.Fatalf("fresh key has %d failures", n)
		}
		for i := range 3 {
			n, retry, err := s.Failures.Attempt(ctx, ports.Attempt{Account: "acct", Identifier: "acct", Max: 10, TTL: time.Hour})
			mustNotFail(t, "Attempt", err)
			if n != i+1 || retry != 0 {
				t.Fatalf("attempt %d: n=%d retryAfter=%v", i+1, n, retry)
			}
		}
		n, ttl, err := s.Failures.Failures(ctx, "acct")
		mustNotFail(t, "Failures", err)
		if n != 3 || ttl <= 0 || ttl > time.Hour {
			t.Fatalf("after 3 attempts: n=%d ttl=%v", n, ttl)
		}
		mustNotFail(t, "Reset", s.Failures.Reset(ctx, "acct"))
		if n, _, _ := s.Failures.Failures(ctx, "acct"); n != 0 {
			t.Fatalf("after Reset: %d", n)
		}
		_, _, _ = s.Failures.Attempt(ctx, ports.Attempt{Account: "short", Identifier: "short", Max: 10, TTL: 150 * time.Millisecond})
		time.Sleep(250 * time.Millisecond)
		if n, _, _ := s.Failures.Failures(ctx, "short"); n != 0 {
			t.Fatalf("failures outlived their ttl: %d", n)
		}
	})

	t.Run("the account cap refuses uncounted, with the time left (LG-02)", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		ctx := t.Context()
		for _, id := range []string{"email", "name"} { // one account, two identifiers
			_, _, err := s.Failures.Attempt(ctx, ports.Attempt{Account: "acct", Identifier: id, Max: 2, TTL: time.Hour})
			mustNotFail(t, "Attempt", err)
		}
		n, retry, err := s.Failures.Attempt(ctx, ports.Attempt{Account: "acct", Identifier: "third", Max: 2, TTL: time.Hour})
		mustNotFail(t, "Attempt", err)
		if n != 0 || retry <= 0 || retry > time.Hour {
			t.Fatalf("over the cap: n=%d retryAfter=%v, want refused within the ttl", n, retry)
		}
		if n, _, _ := s.Failures.Failures(ctx, "acct"); n != 2 {
			t.Fatalf("the refused attempt was counted: %d", n)
		}
	})

	t.Run("spacing follows the identifier's own count", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		ctx := t.Context()
		spacing := []time.Duration{0, 150 * time.Millisecond, time.Minute}
		try := func(id string) (int, time.Duration) {
			n, retry, err := s.Failures.Attempt(ctx, ports.Attempt{Account: "acct", Identifier: id, Max: 100, TTL: time.Hour, Spacing: spacing})
			mustNotFail(t, "Attempt", err)
			return n, retry
		}
		if n, _ := try("email"); n != 1 {
			t.Fatalf("first attempt: n=%d", n)
		}
		if n, _ := try("email"); n != 2 {
			t.Fatalf("the first entry (0) spaces nothing: n=%d", n)
		}
		if n, retry := try("email"); n != 0 || retry <= 0 || retry > 150*time.Millisecond {
			t.Fatalf("inside the second entry's spacing: n=%d retryAfter=%v", n, retry)
		}
		if n, retry := try("name"); n != 3 || retry != 0 {
			t.Fatalf("another identifier of the account: n=%d retryAfter=%v, want counted toward the account, not spaced", n, retry)
		}
		time.Sleep(250 * time.Millisecond)
		if n, _ := try("email"); n != 4 {
			t.Fatalf("after the spacing: n=%d", n)
		}
		for range 2 { // the third entry, then the last one past the end
			if n, retry := try("email"); n != 0 || retry <= 150*time.Millisecond || retry > time.Minute {
				t.Fatalf("inside the last entry's spacing: n=%d retryAfter=%v", n, retry)
			}
		}
		mustNotFail(t, "Reset", s.Failures.Reset(ctx, "email"))
		if n, _ := try("email"); n != 5 {
			t.Fatalf("Reset of the identifier ends its spacing and leaves the account's count: n=%d", n)
		}
	})

	t.Run("parallel attempts get distinct numbers (LG-10)", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		a := ports.Attempt{Account: "acct", Identifier: "id", Max: 100, TTL: time.Hour,
			Spacing: []time.Duration{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, time.Minute}}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var allowed []int
		for range 50 {
			wg.Go(func() {
				n, _, err := s.Failures.Attempt(t.Context(), a)
				mustNotFail(t, "Attempt", err)
				if n != 0 {
					mu.Lock()
					allowed = append(allowed, n)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(allowed)
		if want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}; !slices.Equal(allowed, want) {
			t.Fatalf("allowed attempts got numbers %v, want %v: ten unspaced, then one that starts the spacing", allowed, want)
		}
		if n, _, _ := s.Failures.Failures(t.Context(), "acct"); n != 11 {
			t.Fatalf("%d attempts counted, want the 11 allowed", n)
		}
	})

	t.Run("parallel attempts stop exactly at the cap", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				_, _, err := s.Failures.Attempt(t.Context(), ports.Attempt{Account: "parallel", Identifier: "parallel", Max: 30, TTL: time.Hour})
				mustNotFail(t, "Attempt", err)
			})
		}
		wg.Wait()
		if n, _, _ := s.Failures.Failures(t.Context(), "parallel"); n != 30 {
			t.Fatalf("%d of 50 parallel attempts counted under a cap of 30", n)
		}
	})
}
