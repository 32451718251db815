package memory

import (
	"context"
	"time"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

type credentialRow struct {
	hash      credential.PasswordHash
	updatedAt time.Time
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
	r.s.credentials[string(id)] = credentialRow{hash: h, updatedAt: at}
	onRollback(ctx, func() {
		if existed {
			r.s.credentials[string(id)] = old
		} else {
			delete(r.s.credentials, string(id))
		}
	})
	return nil
}
