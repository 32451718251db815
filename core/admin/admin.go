// Package admin holds the administration use cases: custom roles, the
// account lifecycle run by staff (search, edit, activate, deactivate,
// delete, restore, roles), and bulk operations over many accounts. The
// lifecycle ends with Erasure, the system's job that erases deleted
// accounts once they can no longer be restored.
//
// Every use case takes the acting principal and decides there, not in a
// transport, whether the principal may act: permissions are resolved from
// the principal's roles as stored now (a token's roles may predate a
// demotion), then checked again under lock in the transaction that makes
// the change, so two administrators demoting each other at once cannot
// both succeed.
package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// Principal is who acts, with the permissions they hold now.
type Principal struct {
	User  user.User
	Perms role.Set
}

// Recorder records audit entries outside an action's transaction
// (core/auditlog's Log).
type Recorder interface {
	Record(ctx context.Context, e audit.Entry) error
}

// Authorizer resolves principals and the permissions of accounts, and
// records every refusal in the audit trail (LO-03).
type Authorizer struct {
	users ports.Users
	roles ports.Roles
	trail Recorder
}

// NewAuthorizer returns an Authorizer over users and custom roles that
// records refusals in trail.
func NewAuthorizer(users ports.Users, roles ports.Roles, trail Recorder) (*Authorizer, error) {
	if users == nil || roles == nil || trail == nil {
		return nil, errors.New("admin.NewAuthorizer: missing dependency")
	}
	return &Authorizer{users: users, roles: roles, trail: trail}, nil
}

// Refused records that the caller of p was refused perm on target (an
// account id, "role:" and a role's name, or empty) with err, when err is
// a refusal; it returns err.
func (a *Authorizer) Refused(ctx context.Context, p token.Claims, perm role.Permission, target string, err error) error {
	if err == nil || errs.KindOf(err) != errs.Forbidden {
		return err
	}
	code := "forbidden"
	var de *errs.Error
	if errors.As(err, &de) {
		code = de.Code
	}
	e := audit.Entry{Actor: audit.Actor{Kind: audit.ActorUser, ID: p.Subject}, Action: "authz.refused", Target: target,
		Outcome: audit.Denied, Details: map[string]string{"permission": string(perm), "reason": code}}
	if rerr := a.trail.Record(ctx, e); rerr != nil {
		return errors.Join(err, fmt.Errorf("audit the refusal: %w", rerr))
	}
	return err
}

// Principal loads the caller of p as stored now and returns them with
// their permissions, after checking perm. An account that cannot sign in,
// or a session below the account's assurance level, holds nothing.
func (a *Authorizer) Principal(ctx context.Context, p token.Claims, perm role.Permission) (Principal, error) {
	by, err := a.principal(ctx, p, perm)
	return by, a.Refused(ctx, p, perm, "", err)
}

func (a *Authorizer) principal(ctx context.Context, p token.Claims, perm role.Permission) (Principal, error) {
	u, err := a.users.ByID(ctx, user.ID(p.Subject))
	if errors.Is(err, user.ErrNotFound) {
		return Principal{}, role.ErrDenied
	}
	if err != nil {
		return Principal{}, fmt.Errorf("load principal: %w", err)
	}
	if !u.CanSignIn() {
		return Principal{}, role.ErrDenied
	}
	if err := mfa.StepUp(u.MFAEnabled(), p.AMR); err != nil {
		return Principal{}, err
	}
	perms, err := a.Permissions(ctx, u.Roles())
	if err != nil {
		return Principal{}, err
	}
	if err := perms.Require(perm); err != nil {
		return Principal{}, err
	}
	return Principal{User: u, Perms: perms}, nil
}

// Permissions resolves role names, reading custom roles only when a name
// is not built in (most accounts hold built-in roles alone).
func (a *Authorizer) Permissions(ctx context.Context, names []string) (role.Set, error) {
	custom := map[string]role.Role{}
	for _, n := range names {
		if _, ok := role.BuiltInRole(n); ok {
			continue
		}
		r, err := a.roles.Get(ctx, n)
		if errors.Is(err, role.ErrNotFound) {
			continue
		}
		if err != nil {
			return role.Set{}, fmt.Errorf("load role %q: %w", n, err)
		}
		custom[n] = r
	}
	return role.Resolve(names, func(n string) (role.Role, bool) { r, ok := custom[n]; return r, ok }), nil
}

// errKeep ends a locking read without a write.
var errKeep = errors.New("admin: keep")

// lockUser locks the account id in ctx's transaction until it ends.
func (a *Authorizer) lockUser(ctx context.Context, id user.ID) error {
	_, err := a.users.Update(ctx, id, func(*user.User) error { return errKeep })
	if errors.Is(err, errKeep) {
		return nil
	}
	return err
}

// Recheck locks the principal's row in ctx's transaction and checks perm
// again against what is stored now; what it returns holds until commit.
func (a *Authorizer) Recheck(ctx context.Context, who user.ID, perm role.Permission) (Principal, error) {
	var now user.User
	_, err := a.users.Update(ctx, who, func(u *user.User) error { now = *u; return errKeep })
	if err != nil && !errors.Is(err, errKeep) {
		if errors.Is(err, user.ErrNotFound) {
			return Principal{}, role.ErrDenied
		}
		return Principal{}, fmt.Errorf("lock principal: %w", err)
	}
	if !now.CanSignIn() {
		return Principal{}, role.ErrDenied
	}
	perms, err := a.Permissions(ctx, now.Roles())
	if err != nil {
		return Principal{}, err
	}
	if err := perms.Require(perm); err != nil {
		return Principal{}, err
	}
	return Principal{User: now, Perms: perms}, nil
}

// Permit returns nil when the caller of p holds every one of perms now
// and, when target names an account, it is another one, which the caller
// outranks. It is the check the
// use cases of other packages (identity's administrative calls) make.
func (a *Authorizer) Permit(ctx context.Context, p token.Claims, target user.ID, perms ...role.Permission) error {
	if len(perms) == 0 {
		return role.ErrDenied
	}
	by, err := a.Principal(ctx, p, perms[0])
	if err != nil {
		return err
	}
	for _, perm := range perms[1:] {
		if err := by.Perms.Require(perm); err != nil {
			return err
		}
	}
	if target == "" {
		return nil
	}
	if target == by.User.ID() {
		// Administration is not self-service: one's own factors and
		// account go through the owner's routes, with their proofs.
		return a.Refused(ctx, p, perms[0], string(target), role.ErrSelf)
	}
	u, err := a.users.ByID(ctx, target)
	if err != nil {
		return fmt.Errorf("load account: %w", err)
	}
	perms2, err := a.Permissions(ctx, u.Roles())
	if err != nil {
		return err
	}
	return a.Refused(ctx, p, perms[0], string(target), by.Perms.ActOn(perms2))
}

// PermissionsWith resolves role names as Permissions does, but with def in
// place of the stored role of its name: what the names would grant were
// that role so defined.
func (a *Authorizer) PermissionsWith(ctx context.Context, names []string, def role.Role) (role.Set, error) {
	rest := make([]string, 0, len(names))
	for _, n := range names {
		if n != def.Name {
			rest = append(rest, n)
		}
	}
	base, err := a.Permissions(ctx, rest)
	if err != nil {
		return role.Set{}, err
	}
	if len(rest) == len(names) {
		return base, nil
	}
	return role.Of(append(base.Permissions(), def.Permissions...)...), nil
}

// lockRole locks the custom role name in ctx's transaction until it ends
// and returns it; role.ErrNotFound when there is none (deleted meanwhile).
func (a *Authorizer) lockRole(ctx context.Context, name string) (role.Role, error) {
	var r role.Role
	_, err := a.roles.Update(ctx, name, func(x *role.Role) error { r = *x; return errKeep })
	if err != nil && !errors.Is(err, errKeep) {
		return role.Role{}, err
	}
	return r, nil
}

// Audit records an action of the caller of p that no event records
// itself (ending every session, say); in ctx's transaction, if any.
func (a *Authorizer) Audit(ctx context.Context, p token.Claims, action, target string, details map[string]string) error {
	return a.record(ctx, p, action, target, details)
}

// record appends an audit entry of an action of the caller of p in ctx's
// transaction, so it commits or rolls back with the action.
func (a *Authorizer) record(ctx context.Context, p token.Claims, action, target string, details map[string]string) error {
	return a.trail.Record(ctx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorUser, ID: p.Subject}, Action: action,
		Target: target, Outcome: audit.Success, Details: details})
}
