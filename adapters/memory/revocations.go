package memory

import (
	"context"
	"sync"
	"time"

	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/ports"
)

// RevokedSessions is the in-process ports.RevokedSessions: a set of ended
// session ids, each kept until no access token of its session can still be
// valid. It is exact for one process; several processes need a shared
// implementation (adapters/valkey).
type RevokedSessions struct {
	mu        sync.RWMutex
	ids       map[session.ID]time.Time // forget after
	keep      time.Duration
	clock     ports.Clock
	lastPrune time.Time
}

// NewRevokedSessions keeps each revocation for keep (the access-token lifetime
// plus verification leeway).
func NewRevokedSessions(clock ports.Clock, keep time.Duration) *RevokedSessions {
	return &RevokedSessions{ids: map[session.ID]time.Time{}, keep: keep, clock: clock}
}

var _ ports.RevokedSessions = (*RevokedSessions)(nil)

// IsRevoked reports whether id was revoked within keep. Past keep the
// answer is "no", as from a shared store whose entries expire, whether or
// not the entry was pruned yet.
func (r *RevokedSessions) IsRevoked(_ context.Context, id session.ID) (bool, error) {
	r.mu.RLock()
	until, ok := r.ids[id]
	r.mu.RUnlock()
	// The clock is read only for a revoked id: the hot path, an id that
	// was never revoked, stays a map lookup.
	return ok && !r.clock.Now().After(until), nil
}

// Add records revocations and forgets the ones no token can outlive.
func (r *RevokedSessions) Add(_ context.Context, rs ...session.Revocation) error {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range rs {
		r.ids[x.ID] = x.At.Add(r.keep)
	}
	if now.Sub(r.lastPrune) > time.Minute {
		r.lastPrune = now
		for id, until := range r.ids {
			if now.After(until) {
				delete(r.ids, id)
			}
		}
	}
	return nil
}
