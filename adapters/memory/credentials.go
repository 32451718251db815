package memory

import (
	"context"
	"time"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

type credentialRow struct {
	hash        credential.PasswordHash
	updatedAt   time.Time
	recoveredAt time.Time
}

// Credentials is the in-memory ports.Credentials.
type Credentials struct{ s *Store }

// NewCredentials returns the store's Credentials.
func NewCredentials(s *Store) *Credentials { return &Credentials{s} }

var _ ports.Credentials = (*Credentials)(nil)

// PasswordHash returns the user's hash.
func (r *Credentials) PasswordHash(ctx context.Context, id user.ID) (credential.PasswordHash, error) {
	defer r.s.lock(ctx)()
	c, ok := r.s.credentials[string(id)]
	if !ok {
		return "", credential.ErrNoPassword
	}
	return c.hash, nil
}

// SetPasswordHash creates or replaces the user's hash.
func (r *Credentials) SetPasswordHash(ctx context.Context, id user.ID, h credential.PasswordHash, at time.Time) error {
	defer r.s.lock(ctx)()
	old, existed := r.s.credentials[string(id)]
	r.s.credentials[string(id)] = credentialRow{hash: h, updatedAt: at, recoveredAt: old.recoveredAt}
	onRollback(ctx, func() {
		if existed {
			r.s.credentials[string(id)] = old
		} else {
			delete(r.s.credentials, string(id))
		}
	})
	return nil
}

// SetRecovered sets or clears the recovery mark of the user's password.
func (r *Credentials) SetRecovered(ctx context.Context, id user.ID, at time.Time) error {
	defer r.s.lock(ctx)()
	c, ok := r.s.credentials[string(id)]
	if !ok {
		return credential.ErrNoPassword
	}
	old := c
	c.recoveredAt = at
	r.s.credentials[string(id)] = c
	onRollback(ctx, func() { r.s.credentials[string(id)] = old })
	return nil
}

// Recovered returns the recovery mark of the user's password.
func (r *Credentials) Recovered(ctx context.Context, id user.ID) (time.Time, error) {
	defer r.s.lock(ctx)()
	return r.s.credentials[string(id)].recoveredAt, nil
}
