package role

import (
	"slices"

	"github.com/usermgmt/usermgmt/core/errs"
)

// Errors of the authorization rules. ErrDenied and ErrOutranked are
// Forbidden; the caller knows the target exists, since reading it is a
// lesser permission than changing it.
var (
	ErrDenied     = errs.New(errs.Forbidden, "auth.permission_denied", "you lack the permission this needs")
	ErrOutranked  = errs.New(errs.Forbidden, "auth.outranked", "the account holds permissions you do not, or as many as you do")
	ErrEscalation = errs.New(errs.Forbidden, "auth.escalation", "you cannot grant a permission you do not hold")
	ErrSelf       = errs.New(errs.Forbidden, "auth.self", "you cannot do this to your own account")
	ErrLastSuper  = errs.New(errs.Conflict, "auth.last_superadmin", "the last active superadmin cannot lose the role or the account")
)

// Set is the permissions a principal holds now.
type Set struct{ perms []Permission } // sorted, without duplicates

// Resolve is the permissions behind role names: the built-in roles' and
// those of custom, a lookup of custom roles by name. A name that is neither
// (a custom role deleted since) gives nothing.
func Resolve(names []string, custom func(name string) (Role, bool)) Set {
	var perms []Permission
	for _, n := range names {
		r, ok := BuiltInRole(n)
		if !ok && custom != nil {
			r, ok = custom(n)
		}
		if ok {
			perms = append(perms, r.Permissions...)
		}
	}
	return Set{perms: sorted(perms...)}
}

// Of is the set of the given permissions.
func Of(perms ...Permission) Set { return Set{perms: sorted(perms...)} }

// Has reports whether s holds p.
func (s Set) Has(p Permission) bool {
	_, ok := slices.BinarySearch(s.perms, p)
	return ok
}

// Permissions lists s, sorted.
func (s Set) Permissions() []Permission { return slices.Clone(s.perms) }

// Privileged reports whether s holds any permission: plain users hold none.
func (s Set) Privileged() bool { return len(s.perms) > 0 }

// Covers reports whether s holds every permission of o.
func (s Set) Covers(o Set) bool {
	for _, p := range o.perms {
		if !s.Has(p) {
			return false
		}
	}
	return true
}

// Require returns ErrDenied unless s holds p.
func (s Set) Require(p Permission) error {
	if !s.Has(p) {
		return ErrDenied
	}
	return nil
}

// Outranks reports whether a principal holding s may act on an account
// holding t: t must be strictly less than s, so administrators of one
// rank cannot act on each other, or s must hold admins:manage and all of
// t (a superadmin acts on a superadmin). It is the rule that keeps
// support from touching an admin and an admin from touching a superadmin.
func (s Set) Outranks(t Set) bool {
	if !s.Covers(t) {
		return false
	}
	return len(t.perms) < len(s.perms) || s.Has(AdminsManage)
}

// ActOn returns ErrOutranked unless s outranks t.
func (s Set) ActOn(t Set) error {
	if !s.Outranks(t) {
		return ErrOutranked
	}
	return nil
}

// Grant returns ErrEscalation unless s holds every permission of r: nobody
// hands out what they do not hold.
func (s Set) Grant(r Role) error {
	if !s.Covers(Of(r.Permissions...)) {
		return ErrEscalation
	}
	return nil
}
