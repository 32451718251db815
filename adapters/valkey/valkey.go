// Package valkey keeps the state that every instance of usermgmt must share
// in Valkey (or Redis): rate-limit windows and failure counters, updated
// atomically by Lua scripts so limits hold across instances.
package valkey

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/usermgmt/usermgmt/ports"
)

// Store is a Valkey connection with the service's key prefix.
type Store struct {
	c      valkey.Client
	prefix string
}

// Open connects to addr (host:port). Keys are prefixed with prefix, so
// several deployments (or tests) can share one server.
func Open(addr, prefix string) (*Store, error) {
	c, err := valkey.NewClient(valkey.ClientOption{
		InitAddress:      []string{addr},
		DisableCache:     true, // every read here must see the latest count
		ConnWriteTimeout: 2 * time.Second,
		Dialer:           netDialer(),
	})
	if err != nil {
		return nil, fmt.Errorf("valkey: connect %s: %w", addr, err)
	}
	return &Store{c: c, prefix: prefix}, nil
}

// Close closes the connection.
func (s *Store) Close() { s.c.Close() }

// Ping reports whether the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Do(ctx, s.c.B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("valkey: ping: %w", err)
	}
	return nil
}

// Limits implements ports.RateLimiter and ports.FailureCounter on Valkey.
type Limits struct{ s *Store }

// NewLimits returns the limits kept in s.
func NewLimits(s *Store) *Limits { return &Limits{s} }

var (
	_ ports.RateLimiter    = (*Limits)(nil)
	_ ports.FailureCounter = (*Limits)(nil)
)

// take counts one attempt in a fixed window: the first INCR starts the
// window's expiry; one script, so concurrent callers never both slip
// under the limit.
var take = valkey.NewLuaScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`)

// fail counts one consecutive failure and restarts its expiry.
var fail = valkey.NewLuaScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n`)

// Take spends one attempt of key's budget of limit per window.
func (l *Limits) Take(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	v, err := take.Exec(ctx, l.s.c, []string{l.s.prefix + "rl:" + key}, []string{strconv.FormatInt(window.Milliseconds(), 10)}).AsIntSlice()
	if err != nil {
		return false, 0, fmt.Errorf("valkey: rate limit %s: %w", key, err)
	}
	if len(v) != 2 {
		return false, 0, errors.New("valkey: rate limit: unexpected reply")
	}
	if v[0] > int64(limit) {
		return false, time.Duration(v[1]) * time.Millisecond, nil
	}
	return true, 0, nil
}

// Failures returns key's consecutive failures and their remaining time.
func (l *Limits) Failures(ctx context.Context, key string) (int, time.Duration, error) {
	k := l.s.prefix + "fail:" + key
	resps := l.s.c.DoMulti(ctx, l.s.c.B().Get().Key(k).Build(), l.s.c.B().Pttl().Key(k).Build())
	n, err := resps[0].AsInt64()
	if valkey.IsValkeyNil(err) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("valkey: failures of %s: %w", key, err)
	}
	ttl, err := resps[1].AsInt64()
	if err != nil {
		return 0, 0, fmt.Errorf("valkey: failures of %s: %w", key, err)
	}
	return int(n), time.Duration(max(ttl, 0)) * time.Millisecond, nil
}

// Fail adds one failure to key and restarts its expiry.
func (l *Limits) Fail(ctx context.Context, key string, ttl time.Duration) (int, error) {
	n, err := fail.Exec(ctx, l.s.c, []string{l.s.prefix + "fail:" + key}, []string{strconv.FormatInt(ttl.Milliseconds(), 10)}).AsInt64()
	if err != nil {
		return 0, fmt.Errorf("valkey: count failure of %s: %w", key, err)
	}
	return int(n), nil
}

// Reset forgets key's failures.
func (l *Limits) Reset(ctx context.Context, key string) error {
	if err := l.s.c.Do(ctx, l.s.c.B().Del().Key(l.s.prefix+"fail:"+key).Build()).Error(); err != nil {
		return fmt.Errorf("valkey: reset failures of %s: %w", key, err)
	}
	return nil
}
