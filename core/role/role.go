// Package role is who may do what: the permissions the service checks, the
// built-in roles, custom roles, and the rules that keep administration from
// being a ladder (nobody grants what they do not hold, nobody acts on an
// account more privileged than their own).
//
// A permission is held through roles only. A user's roles are names; the
// permissions behind a name are resolved at the moment of each check, so a
// role edited or removed is in force on the very next request.
package role

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/usermgmt/usermgmt/core/errs"
)

// Permission names one kind of action, "resource:verb".
type Permission string

// The permissions the service checks. Self-service (one's own profile,
// sessions, factors, keys) needs none: it is allowed by being the owner.
const (
	UsersRead      Permission = "users:read"      // see any account
	UsersWrite     Permission = "users:write"     // edit, activate, deactivate, reset
	UsersDelete    Permission = "users:delete"    // delete and restore accounts
	RolesManage    Permission = "roles:manage"    // define roles and assign them
	SessionsRead   Permission = "sessions:read"   // see anyone's sessions
	SessionsRevoke Permission = "sessions:revoke" // end anyone's sessions
	AuditRead      Permission = "audit:read"      // read and export the audit trail
	OrgsManage     Permission = "orgs:manage"     // any organization
	APIKeysManage  Permission = "apikeys:manage"  // anyone's API keys
	AdminsManage   Permission = "admins:manage"   // act on accounts that hold permissions
	KeysRotate     Permission = "keys:rotate"     // retire the token-signing key
)

// all is every permission, in a stable order.
var all = []Permission{UsersRead, UsersWrite, UsersDelete, RolesManage, SessionsRead, SessionsRevoke,
	AuditRead, OrgsManage, APIKeysManage, AdminsManage, KeysRotate}

// All returns every permission the service checks.
func All() []Permission { return slices.Clone(all) }

// Known reports whether p is a permission the service checks.
func Known(p Permission) bool { return slices.Contains(all, p) }

// Built-in role names. They cannot be edited or deleted.
const (
	User       = "user"
	Support    = "support"
	Admin      = "admin"
	SuperAdmin = "superadmin"
)

// Role is a named set of permissions.
type Role struct {
	Name        string
	Description string
	Permissions []Permission // sorted, without duplicates
	BuiltIn     bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

var builtIn = []Role{
	{Name: User, Description: "Every account: self-service only", BuiltIn: true},
	{Name: Support, Description: "Reads accounts, sessions and the audit trail", BuiltIn: true,
		Permissions: sorted(AuditRead, SessionsRead, UsersRead)},
	{Name: Admin, Description: "Manages accounts, roles, sessions and reads the audit trail", BuiltIn: true,
		Permissions: sorted(AuditRead, RolesManage, SessionsRead, SessionsRevoke, UsersDelete, UsersRead, UsersWrite)},
	{Name: SuperAdmin, Description: "Everything, including other administrators", BuiltIn: true,
		Permissions: sorted(all...)},
}

// BuiltIn returns the built-in roles.
func BuiltIn() []Role {
	out := make([]Role, len(builtIn))
	for i, r := range builtIn {
		out[i] = r
		out[i].Permissions = slices.Clone(r.Permissions)
	}
	return out
}

// BuiltInRole returns the built-in role named name.
func BuiltInRole(name string) (Role, bool) {
	for _, r := range builtIn {
		if r.Name == name {
			r.Permissions = slices.Clone(r.Permissions)
			return r, true
		}
	}
	return Role{}, false
}

// Limits on a custom role.
const (
	MaxNameLength        = 64
	MaxDescriptionLength = 200
)

// Errors of the role rules.
var (
	ErrInvalidName        = errs.New(errs.Invalid, "role.invalid_name", "must be a lower-case name: a letter, then letters, digits, '_', '-', '.' or ':', at most 64")
	ErrInvalidDescription = errs.New(errs.Invalid, "role.invalid_description", fmt.Sprintf("must be at most %d printable characters", MaxDescriptionLength))
	ErrUnknownPermission  = errs.New(errs.Invalid, "role.unknown_permission", "names a permission the service does not have")
	ErrBuiltIn            = errs.New(errs.Conflict, "role.built_in", "built-in roles cannot be changed")
	ErrReservedName       = errs.New(errs.Invalid, "role.reserved_name", "is the name of a built-in role")
	ErrNotFound           = errs.New(errs.NotFound, "role.not_found", "role not found")
	ErrExists             = errs.New(errs.Conflict, "role.exists", "a role of that name exists")
)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_:.-]{0,63}$`)

// ValidName reports whether name can name a role.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// New applies the rules of a custom role: a valid name that is not a
// built-in one, a short printable description and known permissions.
func New(name, description string, perms []Permission, now time.Time) (Role, error) {
	var v errs.Validation
	if !ValidName(name) {
		v.Check("name", ErrInvalidName)
	} else if _, ok := BuiltInRole(name); ok {
		v.Check("name", ErrReservedName)
	}
	d, err := checkDescription(description)
	v.Check("description", err)
	p, err := checkPermissions(perms)
	v.Check("permissions", err)
	if err := v.Err(); err != nil {
		return Role{}, err
	}
	now = now.UTC()
	return Role{Name: name, Description: d, Permissions: p, CreatedAt: now, UpdatedAt: now}, nil
}

// Edit is a change to a custom role; nil fields stay as they are.
type Edit struct {
	Description *string
	Permissions *[]Permission
}

// Apply applies e to r and reports whether anything changed.
func (r *Role) Apply(e Edit, now time.Time) (bool, error) {
	if r.BuiltIn {
		return false, ErrBuiltIn
	}
	next := *r
	var v errs.Validation
	if e.Description != nil {
		d, err := checkDescription(*e.Description)
		v.Check("description", err)
		next.Description = d
	}
	if e.Permissions != nil {
		p, err := checkPermissions(*e.Permissions)
		v.Check("permissions", err)
		next.Permissions = p
	}
	if err := v.Err(); err != nil {
		return false, err
	}
	if next.Description == r.Description && slices.Equal(next.Permissions, r.Permissions) {
		return false, nil
	}
	next.UpdatedAt = now.UTC()
	*r = next
	return true, nil
}

func checkDescription(s string) (string, error) {
	s = strings.TrimSpace(s)
	// Printable only: a bidirectional override would make the role read
	// otherwise to the staff who assign it.
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxDescriptionLength ||
		strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return "", ErrInvalidDescription
	}
	return s, nil
}

func checkPermissions(perms []Permission) ([]Permission, error) {
	for _, p := range perms {
		if !Known(p) {
			return nil, ErrUnknownPermission
		}
	}
	return sorted(perms...), nil
}

func sorted(perms ...Permission) []Permission {
	out := slices.Clone(perms)
	slices.Sort(out)
	return slices.Compact(out)
}
