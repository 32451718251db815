package memory

import (
	"context"
	"time"

	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

type resetRow struct {
	uid     user.ID
	expires time.Time
	used    bool
}

// ResetTokens is the in-memory ports.ResetTokens.
type ResetTokens struct{ s *Store }

// NewResetTokens returns the store's reset tokens.
func NewResetTokens(s *Store) *ResetTokens { return &ResetTokens{s} }

var _ ports.ResetTokens = (*ResetTokens)(nil)

// Issue stores a token and drops the user's earlier ones.
func (r *ResetTokens) Issue(ctx context.Context, uid user.ID, hash string, _, expires time.Time) error {
	defer r.s.lock(ctx)()
	old := make(map[string]resetRow, len(r.s.resets))
	for k, v := range r.s.resets {
		old[k] = v
		if v.uid == uid {
			delete(r.s.resets, k)
		}
	}
	r.s.resets[hash] = resetRow{uid: uid, expires: expires}
	onRollback(ctx, func() { r.s.resets = old })
	return nil
}

// Lookup returns the user of a live token.
func (r *ResetTokens) Lookup(ctx context.Context, hash string, now time.Time) (user.ID, error) {
	defer r.s.lock(ctx)()
	t, ok := r.s.resets[hash]
	if !ok || t.used || !now.Before(t.expires) {
		return "", user.ErrNotFound
	}
	return t.uid, nil
}

// Consume uses a live token once.
func (r *ResetTokens) Consume(ctx context.Context, hash string, now time.Time) (user.ID, error) {
	defer r.s.lock(ctx)()
	t, ok := r.s.resets[hash]
	if !ok || t.used || !now.Before(t.expires) {
		return "", user.ErrNotFound
	}
	t.used = true
	r.s.resets[hash] = t
	onRollback(ctx, func() { t.used = false; r.s.resets[hash] = t })
	return t.uid, nil
}

// InvalidateUser drops every token of uid.
func (r *ResetTokens) InvalidateUser(ctx context.Context, uid user.ID) error {
	defer r.s.lock(ctx)()
	for k, v := range r.s.resets {
		if v.uid == uid {
			delete(r.s.resets, k)
			onRollback(ctx, func() { r.s.resets[k] = v })
		}
	}
	return nil
}
