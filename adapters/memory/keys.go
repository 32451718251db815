package memory

import (
	"context"
	"slices"

	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/ports"
)

type keyRow struct{ k token.SigningKey }

// SigningKeys is the in-memory ports.SigningKeys.
type SigningKeys struct{ s *Store }

// NewSigningKeys returns the store's key store.
func NewSigningKeys(s *Store) *SigningKeys { return &SigningKeys{s} }

var _ ports.SigningKeys = (*SigningKeys)(nil)

// SigningKeys returns every key, newest first.
func (r *SigningKeys) SigningKeys(ctx context.Context) ([]token.SigningKey, error) {
	defer r.s.lock(ctx)()
	out := make([]token.SigningKey, 0, len(r.s.keys))
	for _, x := range r.s.keys {
		k := x.k
		k.Seed = slices.Clone(k.Seed)
		out = append(out, k)
	}
	slices.SortStableFunc(out, func(a, b token.SigningKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// AddSigningKey stores k.
func (r *SigningKeys) AddSigningKey(ctx context.Context, k token.SigningKey) error {
	defer r.s.lock(ctx)()
	k.Seed = slices.Clone(k.Seed)
	n := len(r.s.keys)
	r.s.keys = append(r.s.keys, keyRow{k})
	onRollback(ctx, func() { r.s.keys = r.s.keys[:n] })
	return nil
}
