package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// ErrRoleInUse refuses to delete a role some account holds: remove it
// from them first (the bulk remove-role action does it in one request).
var ErrRoleInUse = errs.New(errs.Conflict, "role.in_use", "accounts hold this role: remove it from them first")

// Roles manages custom roles.
type Roles struct {
	tx    ports.Transactor
	roles ports.Roles
	dir   ports.UserDirectory
	clock ports.Clock
	auth  *Authorizer
}

// NewRoles returns the role management use cases.
func NewRoles(tx ports.Transactor, roles ports.Roles, dir ports.UserDirectory, clock ports.Clock, auth *Authorizer) (*Roles, error) {
	if tx == nil || roles == nil || dir == nil || clock == nil || auth == nil {
		return nil, errors.New("admin.NewRoles: missing dependency")
	}
	return &Roles{tx: tx, roles: roles, dir: dir, clock: clock, auth: auth}, nil
}

// List returns the built-in roles, then the custom ones (users:read: staff
// who see accounts see what their roles mean).
func (s *Roles) List(ctx context.Context, p token.Claims) ([]role.Role, error) {
	if _, err := s.auth.Principal(ctx, p, role.UsersRead); err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	custom, err := s.roles.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	return append(role.BuiltIn(), custom...), nil
}

// Create defines a role (roles:manage) with permissions the caller holds.
func (s *Roles) Create(ctx context.Context, p token.Claims, name, description string, perms []role.Permission) (role.Role, error) {
	r, err := role.New(name, description, perms, s.clock.Now())
	if err != nil {
		return role.Role{}, err
	}
	err = s.tx.WithinTx(ctx, func(ctx context.Context) error {
		by, err := s.lockedPrincipal(ctx, p)
		if err != nil {
			return err
		}
		if err := by.Perms.Grant(r); err != nil {
			return err
		}
		if err := s.roles.Create(ctx, r); err != nil {
			return err
		}
		return s.auth.record(ctx, p, "role.created", r.Name, map[string]string{"permissions": joinPerms(r.Permissions)})
	})
	if err != nil {
		return role.Role{}, fmt.Errorf("create role: %w", s.auth.Refused(ctx, p, role.RolesManage, "role:"+name, err))
	}
	return r, nil
}

// Update edits a custom role (roles:manage). The caller must hold every
// permission the role has before and after, must not hold the role, and
// must outrank every account that holds it, before and after: editing a
// role changes what each holder may do, so it is acting on each of them.
func (s *Roles) Update(ctx context.Context, p token.Claims, name string, e role.Edit) (role.Role, error) {
	var out role.Role
	err := s.tx.WithinTx(ctx, func(ctx context.Context) error {
		by, err := s.lockedPrincipal(ctx, p)
		if err != nil {
			return err
		}
		if _, ok := role.BuiltInRole(name); ok {
			return role.ErrBuiltIn
		}
		if by.User.HasRole(name) {
			return role.ErrSelf
		}
		var before role.Role
		out, err = s.roles.Update(ctx, name, func(r *role.Role) error {
			before = *r
			if err := by.Perms.Grant(*r); err != nil {
				return err
			}
			if _, err := r.Apply(e, s.clock.Now()); err != nil {
				return err
			}
			return by.Perms.Grant(*r)
		})
		if err != nil {
			return err
		}
		if err := s.eachHolder(ctx, name, func(u user.User) error {
			for _, def := range []role.Role{before, out} {
				perms, err := s.auth.PermissionsWith(ctx, u.Roles(), def)
				if err != nil {
					return err
				}
				if err := by.Perms.ActOn(perms); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		return s.auth.record(ctx, p, "role.updated", name, map[string]string{
			"before": joinPerms(before.Permissions), "after": joinPerms(out.Permissions)})
	})
	if err != nil {
		return role.Role{}, fmt.Errorf("update role: %w", s.auth.Refused(ctx, p, role.RolesManage, "role:"+name, err))
	}
	return out, nil
}

// Delete removes a custom role no account holds (roles:manage). The role
// is locked first, so an assignment racing with the delete either commits
// before the check, which then sees the holder, or finds the role gone.
func (s *Roles) Delete(ctx context.Context, p token.Claims, name string) error {
	err := s.tx.WithinTx(ctx, func(ctx context.Context) error {
		by, err := s.lockedPrincipal(ctx, p)
		if err != nil {
			return err
		}
		if _, ok := role.BuiltInRole(name); ok {
			return role.ErrBuiltIn
		}
		r, err := s.auth.lockRole(ctx, name)
		if err != nil {
			return err
		}
		if err := by.Perms.Grant(r); err != nil {
			return err
		}
		if err := s.eachHolder(ctx, name, func(user.User) error { return ErrRoleInUse }); err != nil {
			return err
		}
		if err := s.roles.Delete(ctx, name); err != nil {
			return err
		}
		return s.auth.record(ctx, p, "role.deleted", name, map[string]string{"permissions": joinPerms(r.Permissions)})
	})
	if err != nil {
		return fmt.Errorf("delete role: %w", s.auth.Refused(ctx, p, role.RolesManage, "role:"+name, err))
	}
	return nil
}

// eachHolder calls fn with every account, of any status, that holds the
// role name, a page at a time; an error from fn stops it.
func (s *Roles) eachHolder(ctx context.Context, name string, fn func(user.User) error) error {
	for _, st := range []user.Status{user.StatusActive, user.StatusInactive, user.StatusDeleted} {
		q := user.Query{Role: name, Status: st, Sort: user.SortCreatedAt, Limit: user.MaxPageSize}
		for {
			page, more, err := s.dir.Search(ctx, q)
			if err != nil {
				return err
			}
			for _, l := range page {
				if err := fn(l.User); err != nil {
					return err
				}
			}
			if !more || len(page) == 0 {
				break
			}
			k := user.KeyOf(page[len(page)-1], q.Sort)
			q.After = &k
		}
	}
	return nil
}

func joinPerms(perms []role.Permission) string {
	out := make([]string, len(perms))
	for i, p := range perms {
		out[i] = string(p)
	}
	return strings.Join(out, " ")
}

// lockedPrincipal is the caller, checked again under lock. It runs in the
// transaction, which a refusal rolls back with whatever it recorded: the
// use case records the refusal once the transaction is over.
func (s *Roles) lockedPrincipal(ctx context.Context, p token.Claims) (Principal, error) {
	by, err := s.auth.Principal(ctx, p, role.RolesManage)
	if err != nil {
		return Principal{}, err
	}
	return s.auth.Recheck(ctx, by.User.ID(), role.RolesManage)
}
