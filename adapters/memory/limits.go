package memory

import (
	"context"
	"sync"
	"time"

	"github.com/usermgmt/usermgmt/ports"
)

// Limits is the in-process ports.RateLimiter and ports.FailureCounter, for
// one instance (the embedded default); instances that share users need a
// shared store (adapters/valkey).
type Limits struct {
	mu      sync.Mutex
	clock   ports.Clock
	windows map[string]counter
	fails   map[string]counter // account counts
	paces   map[string]counter // identifier counts
	waits   map[string]counter // identifier spacing: only its expiry matters
	swept   time.Time
}

type counter struct {
	n       int
	expires time.Time
}

// live returns c, or a zero counter once it has expired at now.
func (c counter) live(now time.Time) counter {
	if !now.Before(c.expires) {
		return counter{}
	}
	return c
}

// NewLimits returns empty limits that read time from clock.
func NewLimits(clock ports.Clock) *Limits {
	return &Limits{clock: clock, windows: map[string]counter{}, fails: map[string]counter{},
		paces: map[string]counter{}, waits: map[string]counter{}}
}

var (
	_ ports.RateLimiter    = (*Limits)(nil)
	_ ports.FailureCounter = (*Limits)(nil)
)

// Take spends one attempt of key's budget.
func (l *Limits) Take(_ context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	c := l.windows[key]
	if !now.Before(c.expires) {
		c = counter{expires: now.Add(window)}
	}
	c.n++
	l.windows[key] = c
	if c.n > limit {
		return false, c.expires.Sub(now), nil
	}
	return true, 0, nil
}

// Failures returns key's consecutive failures.
func (l *Limits) Failures(_ context.Context, key string) (int, time.Duration, error) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.fails[key].live(now)
	if c.n == 0 {
		return 0, 0, nil
	}
	return c.n, c.expires.Sub(now), nil
}

// Attempt decides and counts one attempt under the mutex, so concurrent
// attempts get distinct numbers.
func (l *Limits) Attempt(_ context.Context, a ports.Attempt) (int, time.Duration, error) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	acct := l.fails[a.Account].live(now)
	if acct.n >= a.Max {
		return 0, acct.expires.Sub(now), nil
	}
	if w := l.waits[a.Identifier]; now.Before(w.expires) {
		return 0, w.expires.Sub(now), nil
	}
	acct = counter{n: acct.n + 1, expires: now.Add(a.TTL)}
	l.fails[a.Account] = acct
	pace := counter{n: l.paces[a.Identifier].live(now).n + 1, expires: now.Add(a.TTL)}
	l.paces[a.Identifier] = pace
	if len(a.Spacing) > 0 {
		if d := a.Spacing[min(pace.n, len(a.Spacing))-1]; d > 0 {
			l.waits[a.Identifier] = counter{expires: now.Add(d)}
		}
	}
	return acct.n, 0, nil
}

// Reset forgets key's counts and spacing.
func (l *Limits) Reset(_ context.Context, key string) error {
	l.mu.Lock()
	delete(l.fails, key)
	delete(l.paces, key)
	delete(l.waits, key)
	l.mu.Unlock()
	return nil
}

// sweep drops expired entries once a minute, so memory follows the number
// of active keys, not of every key ever seen.
func (l *Limits) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	for _, m := range []map[string]counter{l.windows, l.fails, l.paces, l.waits} {
		for k, c := range m {
			if !now.Before(c.expires) {
				delete(m, k)
			}
		}
	}
}
