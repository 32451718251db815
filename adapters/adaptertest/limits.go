package adaptertest

import (
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

	t.Run("failures count, reset and expire", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		ctx := t.Context()
		n, _, err := s.Failures.Failures(ctx, "acct")
		mustNotFail(t, "Failures", err)
		if n != 0 {
			t.Fatalf("fresh key has %d failures", n)
		}
		for range 3 {
			_, err := s.Failures.Fail(ctx, "acct", time.Hour)
			mustNotFail(t, "Fail", err)
		}
		n, ttl, err := s.Failures.Failures(ctx, "acct")
		mustNotFail(t, "Failures", err)
		if n != 3 || ttl <= 0 || ttl > time.Hour {
			t.Fatalf("after 3 failures: n=%d ttl=%v", n, ttl)
		}
		mustNotFail(t, "Reset", s.Failures.Reset(ctx, "acct"))
		if n, _, _ := s.Failures.Failures(ctx, "acct"); n != 0 {
			t.Fatalf("after Reset: %d", n)
		}
		_, _ = s.Failures.Fail(ctx, "short", 150*time.Millisecond)
		time.Sleep(250 * time.Millisecond)
		if n, _, _ := s.Failures.Failures(ctx, "short"); n != 0 {
			t.Fatalf("failures outlived their ttl: %d", n)
		}
	})

	t.Run("50 parallel failures all count", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				_, err := s.Failures.Fail(t.Context(), "parallel", time.Hour)
				mustNotFail(t, "Fail", err)
			})
		}
		wg.Wait()
		if n, _, _ := s.Failures.Failures(t.Context(), "parallel"); n != 50 {
			t.Fatalf("%d of 50 failures counted", n)
		}
	})
}
