package valkey

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/ports"
)

// RevokedSessions implements ports.RevokedSessions in Valkey, shared by
// every instance: one key per ended session, expiring when no access token
// of the session can still be valid.
//
// Checks go through valkey-go's client-side caching: the first check of a
// session reads the server, which then tracks the key for this connection;
// later checks are answered from process memory until the server pushes an
// invalidation, which it does when any instance revokes the session. Add
// returns only once the server has written that push to every instance
// that cached the session, so it is on its way before the revoking request
// is answered. It takes effect when the instance's connection reads it;
// no check waits for that, so a request that reaches an instance just
// behind the push may still be answered from memory if its handler runs
// before the connection's reader. That is the window left between
// "committed" and "refused everywhere": well under a millisecond, about 1
// ms on a host whose CPUs are saturated.
//
// When a connection drops, valkey-go discards everything cached on it (the
// server stops tracking a closed connection, so nothing cached there could
// be trusted), and a check then reads the server again or fails: it never
// falls back to a stale "not revoked".
//
// The revocations added through this instance are also kept in process
// and checked first. Its own then take effect here without waiting for
// any push (the server acknowledges a write before it pushes the
// invalidation to the writer's connection), and those the database sync
// replays (every revocation of the last token lifetime at start, the
// recent ones every second) still hold if the server loses its keys (a
// restart without persistence, eviction under maxmemory).
type RevokedSessions struct {
	s     *Store
	clock ports.Clock
	keep  time.Duration
	mu    sync.RWMutex
	own   map[session.ID]time.Time // added here: forget after
	prune time.Time
}

// NewRevokedSessions keeps each revocation in s for keep after it happened
// (the access-token lifetime plus verification leeway).
func NewRevokedSessions(s *Store, clock ports.Clock, keep time.Duration) *RevokedSessions {
	return &RevokedSessions{s: s, clock: clock, keep: keep, own: map[session.ID]time.Time{}}
}

var _ ports.RevokedSessions = (*RevokedSessions)(nil)

const (
	// cacheBytes is the client-side cache of each connection: some 100,000
	// sessions' answers; beyond that the least used are evicted and read
	// again.
	cacheBytes = 32 << 20
	// cacheFor bounds how long one answer is served from memory. It is not
	// what makes a revocation take effect (the server's invalidation is);
	// it only limits what a lost invalidation could cost.
	cacheFor = time.Minute
	// addBatch bounds one pipeline of Add; the start-up sync can replay a
	// whole token lifetime of revocations.
	addBatch = 1000
)

func (r *RevokedSessions) key(id session.ID) string { return r.s.prefix + "rev:" + string(id) }

// IsRevoked reports whether id was revoked, from the client-side cache
// when it holds the answer; an error when Valkey cannot answer, so the
// caller refuses the token (LO-06).
func (r *RevokedSessions) IsRevoked(ctx context.Context, id session.ID) (bool, error) {
	r.mu.RLock()
	until, own := r.own[id]
	r.mu.RUnlock()
	if own && !r.clock.Now().After(until) {
		return true, nil
	}
	revoked, _, err := r.check(ctx, id)
	return revoked, err
}

// check is IsRevoked that also tells whether the answer came from memory.
func (r *RevokedSessions) check(ctx context.Context, id session.ID) (revoked, cached bool, err error) {
	// DoCache's default form reads the key's PTTL with it, so a cached
	// "revoked" expires with the key; a cached "not revoked" lasts cacheFor
	// unless invalidated.
	res := r.s.c.DoCache(ctx, r.s.c.B().Get().Key(r.key(id)).Cache(), cacheFor)
	switch err := res.Error(); {
	case err == nil:
		return true, res.IsCacheHit(), nil
	case valkey.IsValkeyNil(err):
		return false, res.IsCacheHit(), nil
	default:
		return false, false, fmt.Errorf("valkey: revocation of session %s: %w", id, err)
	}
}

// Add records revocations, each until its At plus keep, in this process
// and in one pipeline (per addBatch) to the server; ones whose tokens have
// all expired are skipped. An id already on the server is left as it is
// (NX): every record of a session has the same At, and the database sync
// re-adds recent revocations every second, which must not make the server
// invalidate every instance's cached answer each time.
func (r *RevokedSessions) Add(ctx context.Context, rs ...session.Revocation) error {
	now := r.clock.Now()
	r.remember(now, rs)
	cmds := make(valkey.Commands, 0, len(rs))
	for _, x := range rs {
		// Rounded up to the millisecond PX counts in, so the key never
		// expires before At+keep.
		ttl := x.At.Add(r.keep).Sub(now)
		if ttl <= 0 {
			continue
		}
		ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
		cmds = append(cmds, r.s.c.B().Set().Key(r.key(x.ID)).Value("1").Nx().Px(ttl).Build())
	}
	for batch := range slices.Chunk(cmds, addBatch) {
		for _, res := range r.s.c.DoMulti(ctx, batch...) {
			if err := res.Error(); err != nil && !valkey.IsValkeyNil(err) { // nil: NX found it recorded
				return fmt.Errorf("valkey: record revocations: %w", err)
			}
		}
	}
	// The server writes the invalidations a write causes in the same round
	// as the write's reply, but may write the reply first; a reply to a
	// later command means that round is over, so the pushes have left for
	// every instance before the caller reports the revocation done.
	if len(cmds) > 0 {
		if err := r.s.c.Do(ctx, r.s.c.B().Ping().Build()).Error(); err != nil {
			return fmt.Errorf("valkey: record revocations: %w", err)
		}
	}
	return nil
}

// remember keeps rs in process and, once a minute, forgets the ones no
// token can outlive.
func (r *RevokedSessions) remember(now time.Time, rs []session.Revocation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range rs {
		r.own[x.ID] = x.At.Add(r.keep)
	}
	if now.Sub(r.prune) > time.Minute {
		r.prune = now
		maps.DeleteFunc(r.own, func(_ session.ID, until time.Time) bool { return now.After(until) })
	}
}
