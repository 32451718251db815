package crypto

import (
	"context"
	"errors"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/ports"
)

// Shape of the cache: up to maxShards shards, each holding at least
// minPerShard entries so a small bound is not split into useless slivers.
const (
	maxShards   = 64
	minPerShard = 16
	// evictSample is how many entries an insert into a full shard looks at
	// to find one to drop: bounded work per miss however large the shard.
	evictSample = 8
)

// CachingVerifier decorates a ports.TokenVerifier with a bounded in-memory
// cache of successful verifications, keyed by the whole token and kept no
// later than the token's exp. It saves the signature check on the hot path
// (every authenticated request); revocation is not its concern, as the use
// case checks it on every call, cached or not.
//
// Failures are not cached: invalid tokens are attacker-chosen strings, and
// caching them would let a flood of junk evict the valid entries; rejecting
// junk is cheap (the checks before the signature) or bounded by rate limits.
//
// With DropOnRetirement, a key retired at once (KeyRing.RotateNow) takes
// its cached tokens with it.
//
// A hit takes a shard read lock and allocates nothing. The returned Roles
// and AMR slices are shared between hits: callers must not modify their
// elements (appending is safe, they are clipped). Safe for concurrent use.
type CachingVerifier struct {
	next       ports.TokenVerifier
	clock      ports.Clock
	generation func() uint64
	seed       maphash.Seed
	shards     []cacheShard
	mask       uint64 // len(shards)-1; len(shards) is a power of two
	perShard   int
}

var _ ports.TokenVerifier = (*CachingVerifier)(nil)

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]*cacheEntry
	_  [32]byte // pads to 64 bytes: neighbouring shards' locks stay off one cache line
}

type cacheEntry struct {
	claims     token.Claims
	generation uint64
}

// CacheOption configures a CachingVerifier.
type CacheOption func(*CachingVerifier)

// DropOnRetirement makes the cache check a token again once ring has
// dropped a key before its time, so a token of a key retired at once fails
// at once rather than at its exp.
func DropOnRetirement(ring *KeyRing) CacheOption {
	return func(c *CachingVerifier) { c.generation = ring.Generation }
}

// NewCachingVerifier caches up to maxEntries verified tokens from next.
func NewCachingVerifier(next ports.TokenVerifier, clock ports.Clock, maxEntries int, opts ...CacheOption) (*CachingVerifier, error) {
	switch {
	case next == nil || clock == nil:
		return nil, errors.New("caching verifier: missing dependency")
	case maxEntries < 1:
		return nil, errors.New("caching verifier: maxEntries must be at least 1")
	}
	n := 1
	for n < maxShards && maxEntries/(2*n) >= minPerShard {
		n *= 2
	}
	c := &CachingVerifier{
		next:     next,
		clock:    clock,
		seed:     maphash.MakeSeed(),
		shards:   make([]cacheShard, n),
		perShard: maxEntries / n, // rounding down keeps the total within maxEntries
		// Without a ring nothing is retired early: one generation.
		generation: func() uint64 { return 0 },
	}
	for _, o := range opts {
		o(c)
	}
	c.mask = uint64(n - 1) //nolint:gosec // n is a power of two in 1..maxShards
	for i := range c.shards {
		c.shards[i].m = make(map[string]*cacheEntry)
	}
	return c, nil
}

// Verify returns the cached claims of raw while they are unexpired, else
// asks next and caches a success.
func (c *CachingVerifier) Verify(ctx context.Context, raw string) (token.Claims, error) {
	sh := c.shard(raw)
	sh.mu.RLock()
	e := sh.m[raw]
	sh.mu.RUnlock()
	now := c.clock.Now()
	// Read before next verifies: an entry is never newer than the keys
	// that verified it.
	gen := c.generation()
	if e != nil {
		if now.Before(e.claims.ExpiresAt) && e.generation == gen {
			return e.claims, nil
		}
		sh.mu.Lock()
		if sh.m[raw] == e {
			delete(sh.m, raw)
		}
		sh.mu.Unlock()
	}
	claims, err := c.next.Verify(ctx, raw)
	if err != nil {
		return token.Claims{}, err
	}
	if now.Before(claims.ExpiresAt) {
		c.put(sh, raw, claims, gen, now)
	}
	return claims, nil
}

// Len reports how many entries the cache holds.
func (c *CachingVerifier) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

func (c *CachingVerifier) shard(raw string) *cacheShard {
	if c.mask == 0 {
		return &c.shards[0]
	}
	return &c.shards[maphash.String(c.seed, raw)&c.mask]
}

func (c *CachingVerifier) put(sh *cacheShard, raw string, claims token.Claims, gen uint64, now time.Time) {
	claims.Roles = slices.Clip(claims.Roles)
	claims.AMR = slices.Clip(claims.AMR)
	// The transport may hand us a string over a reused request buffer
	// (fasthttp does), so the key must own its bytes.
	key := strings.Clone(raw)
	e := &cacheEntry{claims: claims, generation: gen}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[key]; !ok && len(sh.m) >= c.perShard {
		sh.evict(now)
	}
	sh.m[key] = e
}

// evict drops the expired entries among a few sampled ones or, if none has
// expired, the sampled entry that expires first: an approximation of
// "expired first, then oldest" whose cost does not grow with the shard.
// Map iteration starts at a random point, so samples differ between calls.
func (sh *cacheShard) evict(now time.Time) {
	var (
		victim         string
		soonest        time.Time
		seen           int
		found, dropped bool
	)
	for k, e := range sh.m {
		exp := e.claims.ExpiresAt
		if !now.Before(exp) {
			delete(sh.m, k)
			dropped = true
		} else if !found || exp.Before(soonest) {
			victim, soonest, found = k, exp, true
		}
		if seen++; seen == evictSample {
			break
		}
	}
	if !dropped && found {
		delete(sh.m, victim)
	}
}
