package memory

import (
	"context"
	"time"

	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

type tokenRow struct {
	purpose ports.TokenPurpose
	uid     user.ID
	expires time.Time
	used    bool
}

// OneTimeTokens is the in-memory ports.OneTimeTokens.
type OneTimeTokens struct{ s *Store }

// NewOneTimeTokens returns the store's one-time tokens.
func NewOneTimeTokens(s *Store) *OneTimeTokens { return &OneTimeTokens{s} }

var _ ports.OneTimeTokens = (*OneTimeTokens)(nil)

// Issue stores a token and drops the user's earlier ones of the purpose.
func (r *OneTimeTokens) Issue(ctx context.Context, purpose ports.TokenPurpose, uid user.ID, hash string, _, expires time.Time) error {
	defer r.s.lock(ctx)()
	r.drop(ctx, purpose, uid)
	r.s.tokens[hash] = tokenRow{purpose: purpose, uid: uid, expires: expires}
	onRollback(ctx, func() { delete(r.s.tokens, hash) })
	return nil
}

// Lookup returns the user of a live token.
func (r *OneTimeTokens) Lookup(ctx context.Context, purpose ports.TokenPurpose, hash string, now time.Time) (user.ID, error) {
	defer r.s.lock(ctx)()
	t, ok := r.s.tokens[hash]
	if !ok || t.purpose != purpose || t.used || !now.Before(t.expires) {
		return "", user.ErrNotFound
	}
	return t.uid, nil
}

// Consume uses a live token once.
func (r *OneTimeTokens) Consume(ctx context.Context, purpose ports.TokenPurpose, hash string, now time.Time) (user.ID, error) {
	defer r.s.lock(ctx)()
	t, ok := r.s.tokens[hash]
	if !ok || t.purpose != purpose || t.used || !now.Before(t.expires) {
		return "", user.ErrNotFound
	}
	t.used = true
	r.s.tokens[hash] = t
	onRollback(ctx, func() { t.used = false; r.s.tokens[hash] = t })
	return t.uid, nil
}

// InvalidateUser drops every token of uid with purpose.
func (r *OneTimeTokens) InvalidateUser(ctx context.Context, purpose ports.TokenPurpose, uid user.ID) error {
	defer r.s.lock(ctx)()
	r.drop(ctx, purpose, uid)
	return nil
}

func (r *OneTimeTokens) drop(ctx context.Context, purpose ports.TokenPurpose, uid user.ID) {
	for k, v := range r.s.tokens {
		if v.uid == uid && v.purpose == purpose {
			delete(r.s.tokens, k)
			onRollback(ctx, func() { r.s.tokens[k] = v })
		}
	}
}
