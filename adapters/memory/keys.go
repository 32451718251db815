package memory

import (
	"bytes"
	"context"
	"fmt"
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
		k.SealedSeed = slices.Clone(k.SealedSeed)
		out = append(out, k)
	}
	slices.SortStableFunc(out, func(a, b token.SigningKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// AddSigningKey stores k; a kid that is stored already is an error.
func (r *SigningKeys) AddSigningKey(ctx context.Context, k token.SigningKey) error {
	defer r.s.lock(ctx)()
	if k.Kid == "" || len(k.SealedSeed) == 0 {
		return fmt.Errorf("memory: signing key %q: kid and seed are required", k.Kid)
	}
	if slices.ContainsFunc(r.s.keys, func(x keyRow) bool { return x.k.Kid == k.Kid }) {
		return fmt.Errorf("memory: signing key %s is stored already", k.Kid)
	}
	k.SealedSeed = slices.Clone(k.SealedSeed)
	n := len(r.s.keys)
	r.s.keys = append(r.s.keys, keyRow{k})
	onRollback(ctx, func() { r.s.keys = r.s.keys[:n] })
	return nil
}

// ResealSigningKey replaces kid's sealed seed with sealed if it still is old.
func (r *SigningKeys) ResealSigningKey(ctx context.Context, kid string, old, sealed []byte) (bool, error) {
	defer r.s.lock(ctx)()
	i := slices.IndexFunc(r.s.keys, func(x keyRow) bool { return x.k.Kid == kid })
	if i < 0 || !bytes.Equal(r.s.keys[i].k.SealedSeed, old) {
		return false, nil
	}
	r.s.keys[i].k.SealedSeed = slices.Clone(sealed)
	onRollback(ctx, func() { r.s.keys[i].k.SealedSeed = old })
	return true, nil
}

// DeleteSigningKeys deletes the keys named by kids.
func (r *SigningKeys) DeleteSigningKeys(ctx context.Context, kids []string) (int, error) {
	defer r.s.lock(ctx)()
	before := r.s.keys
	r.s.keys = slices.DeleteFunc(slices.Clone(before), func(x keyRow) bool { return slices.Contains(kids, x.k.Kid) })
	onRollback(ctx, func() { r.s.keys = before })
	return len(before) - len(r.s.keys), nil
}
