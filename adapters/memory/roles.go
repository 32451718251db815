package memory

import (
	"context"
	"slices"
	"strings"

	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/ports"
)

// Roles is the in-memory ports.Roles.
type Roles struct{ s *Store }

// NewRoles returns the store's Roles.
func NewRoles(s *Store) *Roles { return &Roles{s} }

var _ ports.Roles = (*Roles)(nil)

func cloneRole(r role.Role) role.Role {
	r.Permissions = slices.Clone(r.Permissions)
	return r
}

// List returns every custom role, by name.
func (r *Roles) List(ctx context.Context) ([]role.Role, error) {
	defer r.s.lock(ctx)()
	out := make([]role.Role, 0, len(r.s.roles))
	for _, x := range r.s.roles {
		out = append(out, cloneRole(x))
	}
	slices.SortFunc(out, func(a, b role.Role) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Get returns the custom role named name.
func (r *Roles) Get(ctx context.Context, name string) (role.Role, error) {
	defer r.s.lock(ctx)()
	x, ok := r.s.roles[name]
	if !ok {
		return role.Role{}, role.ErrNotFound
	}
	return cloneRole(x), nil
}

// Create stores a new custom role.
func (r *Roles) Create(ctx context.Context, x role.Role) error {
	defer r.s.lock(ctx)()
	if _, ok := r.s.roles[x.Name]; ok {
		return role.ErrExists
	}
	r.s.roles[x.Name] = cloneRole(x)
	onRollback(ctx, func() { delete(r.s.roles, x.Name) })
	return nil
}

// Update applies fn to the custom role named name.
func (r *Roles) Update(ctx context.Context, name string, fn func(*role.Role) error) (role.Role, error) {
	defer r.s.lock(ctx)()
	old, ok := r.s.roles[name]
	if !ok {
		return role.Role{}, role.ErrNotFound
	}
	next := cloneRole(old)
	if err := fn(&next); err != nil {
		return role.Role{}, err
	}
	next.Name = name
	r.s.roles[name] = cloneRole(next)
	onRollback(ctx, func() { r.s.roles[name] = old })
	return next, nil
}

// Delete removes the custom role named name.
func (r *Roles) Delete(ctx context.Context, name string) error {
	defer r.s.lock(ctx)()
	old, ok := r.s.roles[name]
	if !ok {
		return role.ErrNotFound
	}
	delete(r.s.roles, name)
	onRollback(ctx, func() { r.s.roles[name] = old })
	return nil
}
