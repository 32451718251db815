// Package valkey keeps the state that every instance of usermgmt must share
// in Valkey (or Redis): rate-limit windows and failure counters, updated
// atomically by Lua scripts so limits hold across instances, and the ended
// sessions, read through client-side caching so every instance learns of a
// revocation at once without a round trip per check.
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
		InitAddress: []string{addr},
		// Client-side caching (RESP3 tracking, opt-in) serves only the
		// revocation checks' DoCache; the limits use Do and always read
		// the server.
		CacheSizeEachConn: cacheBytes,
		ConnWriteTimeout:  2 * time.Second,
		Dialer:            netDialer(),
		RetryDelay:        retryOnce,
	})
	if err != nil {
		return nil, fmt.Errorf("valkey: connect %s: %w", addr, err)
	}
	return &Store{c: c, prefix: prefix}, nil
}

// Prefix is the prefix of every key of s.
func (s *Store) Prefix() string { return s.prefix }

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

// attempt decides and counts one attempt at a credential. KEYS are the
// account count, the identifier count and the identifier's spacing; ARGV
// the cap, the counts' ttl and the spacing table, all in milliseconds. It
// returns {0, wait} for a refusal, else {account count, 0}. One script, so
// each of any number of concurrent attempts gets its own number and the
// spacing follows from it (LG-10).
var attempt = valkey.NewLuaScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl <= 0 then ttl = tonumber(ARGV[2]) end
  return {0, ttl}
end
local wait = redis.call('PTTL', KEYS[3])
if wait > 0 then return {0, wait} end
n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local i = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if #ARGV > 2 then
  local d = tonumber(ARGV[2 + math.min(i, #ARGV - 2)])
  if d > 0 then redis.call('SET', KEYS[3], '1', 'PX', d) end
end
return {n, 0}`)

// Take spends one attempt of key's budget of limit per window.
func (l *Limits) Take(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	v, err := take.Exec(ctx, l.s.c, []string{l.s.prefix + "rl:" + key}, []string{ms(window)}).AsIntSlice()
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

// Attempt decides and counts one attempt (ports.FailureCounter).
func (l *Limits) Attempt(ctx context.Context, a ports.Attempt) (int, time.Duration, error) {
	args := make([]string, 0, 2+len(a.Spacing))
	args = append(args, strconv.Itoa(a.Max), ms(a.TTL))
	for _, d := range a.Spacing {
		args = append(args, ms(d))
	}
	keys := []string{l.s.prefix + "fail:" + a.Account, l.s.prefix + "pace:" + a.Identifier, l.s.prefix + "wait:" + a.Identifier}
	v, err := attempt.Exec(ctx, l.s.c, keys, args).AsIntSlice()
	if err != nil {
		return 0, 0, fmt.Errorf("valkey: count attempt of %s: %w", a.Account, err)
	}
	if len(v) != 2 {
		return 0, 0, errors.New("valkey: count attempt: unexpected reply")
	}
	return int(v[0]), time.Duration(v[1]) * time.Millisecond, nil
}

// Reset forgets key's counts and spacing.
func (l *Limits) Reset(ctx context.Context, key string) error {
	p := l.s.prefix
	if err := l.s.c.Do(ctx, l.s.c.B().Del().Key(p+"fail:"+key, p+"pace:"+key, p+"wait:"+key).Build()).Error(); err != nil {
		return fmt.Errorf("valkey: reset failures of %s: %w", key, err)
	}
	return nil
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
