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
	fails   map[string]counter
	swept   time.Time
}

type counter struct {
	n       int
	expires time.Time
}

// NewLimits returns empty limits that read time from clock.
func NewLimits(clock ports.Clock) *Limits {
	return &Limits{clock: clock, windows: map[string]counter{}, fails: map[string]counter{}}
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
	c, ok := l.fails[key]
	if !ok || !now.Before(c.expires) {
		return 0, 0, nil
	}
	return c.n, c.expires.Sub(now), nil
}

// Fail adds one failure.
func (l *Limits) Fail(_ context.Context, key string, ttl time.Duration) (int, error) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.fails[key]
	if !now.Before(c.expires) {
		c = counter{}
	}
	c.n++
	c.expires = now.Add(ttl)
	l.fails[key] = c
	return c.n, nil
}

// Reset forgets key's failures.
func (l *Limits) Reset(_ context.Context, key string) error {
	l.mu.Lock()
	delete(l.fails, key)
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
	for _, m := range []map[string]counter{l.windows, l.fails} {
		for k, c := range m {
			if !now.Before(c.expires) {
				delete(m, k)
			}
		}
	}
}
