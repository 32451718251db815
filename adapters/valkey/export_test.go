package valkey

import (
	"context"
	"time"

	"github.com/usermgmt/usermgmt/core/session"
)

// Check is IsRevoked that also tells whether the answer came from the
// client-side cache.
func (r *RevokedSessions) Check(ctx context.Context, id session.ID) (revoked, cached bool, err error) {
	return r.check(ctx, id)
}

// TTL is the time the server keeps id's revocation (negative: none).
func (r *RevokedSessions) TTL(ctx context.Context, id session.ID) (time.Duration, error) {
	ms, err := r.s.c.Do(ctx, r.s.c.B().Pttl().Key(r.key(id)).Build()).AsInt64()
	return time.Duration(ms) * time.Millisecond, err
}
