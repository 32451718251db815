package valkey

import (
	"context"
	"time"

	"github.com/valkey-io/valkey-go"

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

// Uncached is IsRevoked without client-side caching: one round trip.
type Uncached struct{ R *RevokedSessions }

func (u Uncached) IsRevoked(ctx context.Context, id session.ID) (bool, error) {
	err := u.R.s.c.Do(ctx, u.R.s.c.B().Get().Key(u.R.key(id)).Build()).Error()
	if valkey.IsValkeyNil(err) {
		return false, nil
	}
	return err == nil, err
}
