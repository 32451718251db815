package role_test

import (
	"errors"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/role"
)

var now = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

func set(names ...string) role.Set { return role.Resolve(names, nil) }

func TestNewRole(t *testing.T) {
	for _, tc := range []struct {
		name, desc string
		perms      []role.Permission
		ok         bool
	}{
		{"auditor", "reads the trail", []role.Permission{role.AuditRead, role.AuditRead}, true},
		{"", "", nil, false},
		{"Auditor", "", nil, false},
		{"1st", "", nil, false},
		{role.Admin, "", nil, false},
		{"x", "line\nbreak", nil, false},
		{"x", "reads\u202eesrever", nil, false},
		{"x", "", []role.Permission{"users:fly"}, false},
	} {
		r, err := role.New(tc.name, tc.desc, tc.perms, now)
		if (err == nil) != tc.ok {
			t.Errorf("New(%q, %q, %v): err %v, want ok %v", tc.name, tc.desc, tc.perms, err, tc.ok)
		}
		if tc.ok && len(r.Permissions) != 1 {
			t.Errorf("New dedupes permissions: %v", r.Permissions)
		}
	}
}

func TestApplyEdit(t *testing.T) {
	r, err := role.New("auditor", "", []role.Permission{role.AuditRead}, now)
	if err != nil {
		t.Fatal(err)
	}
	perms := []role.Permission{role.AuditRead, role.UsersRead}
	changed, err := r.Apply(role.Edit{Permissions: &perms}, now.Add(time.Minute))
	if err != nil || !changed || len(r.Permissions) != 2 || !r.UpdatedAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("Apply: changed %v err %v role %+v", changed, err, r)
	}
	if changed, err := r.Apply(role.Edit{Permissions: &perms}, now); err != nil || changed {
		t.Fatalf("the same edit again: changed %v err %v", changed, err)
	}
	bad := []role.Permission{"nope:x"}
	var verr *errs.Error
	if _, err := r.Apply(role.Edit{Permissions: &bad}, now); !errors.As(err, &verr) || len(verr.Fields) != 1 || verr.Fields[0].Field != "permissions" {
		t.Fatalf("unknown permission: %v", err)
	}
	if len(r.Permissions) != 2 {
		t.Fatalf("a refused edit changed the role: %v", r.Permissions)
	}
	admin, _ := role.BuiltInRole(role.Admin)
	if _, err := admin.Apply(role.Edit{Permissions: &perms}, now); !errors.Is(err, role.ErrBuiltIn) {
		t.Fatalf("built-in role edited: %v", err)
	}
}

// AC-05: the ranks. Support cannot touch an admin, an admin cannot touch
// another admin or a superadmin, a superadmin can touch anyone.
func TestOutranks_AC05(t *testing.T) {
	auditor := role.Of(role.AuditRead)
	for _, tc := range []struct {
		actor, target role.Set
		want          bool
	}{
		{set(role.Support), set(role.User), true},
		{set(role.Support), set(role.Admin), false},
		{set(role.Admin), set(role.User), true},
		{set(role.Admin), set(role.Support), true},
		{set(role.Admin), set(role.Admin), false},
		{set(role.Admin), set(role.SuperAdmin), false},
		{set(role.SuperAdmin), set(role.SuperAdmin), true},
		{set(role.SuperAdmin), set(role.Admin), true},
		{set(role.User), set(role.User), false},
		{set(role.Support), auditor, true},
		{auditor, auditor, false},
	} {
		if got := tc.actor.Outranks(tc.target); got != tc.want {
			t.Errorf("%v outranks %v = %v, want %v", tc.actor.Permissions(), tc.target.Permissions(), got, tc.want)
		}
	}
}

// AC-05: nobody grants a role that holds a permission they do not.
func TestGrant_AC05(t *testing.T) {
	super, _ := role.BuiltInRole(role.SuperAdmin)
	admin, _ := role.BuiltInRole(role.Admin)
	if err := set(role.Admin).Grant(super); !errors.Is(err, role.ErrEscalation) {
		t.Fatalf("admin granted superadmin: %v", err)
	}
	if err := set(role.Admin).Grant(admin); err != nil {
		t.Fatalf("a role within one's own permissions: %v", err)
	}
	keys, _ := role.New("keys", "", []role.Permission{role.APIKeysManage}, now)
	if err := set(role.Admin).Grant(keys); !errors.Is(err, role.ErrEscalation) {
		t.Fatalf("admin granted apikeys:manage: %v", err)
	}
}

func TestResolve(t *testing.T) {
	custom, _ := role.New("auditor", "", []role.Permission{role.AuditRead, role.OrgsManage}, now)
	lookup := func(n string) (role.Role, bool) { return custom, n == custom.Name }
	s := role.Resolve([]string{role.User, "auditor", "gone"}, lookup)
	if !s.Has(role.OrgsManage) || !s.Has(role.AuditRead) || s.Has(role.UsersRead) {
		t.Fatalf("resolved %v", s.Permissions())
	}
	if set(role.User).Privileged() {
		t.Fatal("plain users hold permissions")
	}
	if err := set(role.Support).Require(role.UsersWrite); !errors.Is(err, role.ErrDenied) {
		t.Fatalf("support may write users: %v", err)
	}
	if !set(role.SuperAdmin).Covers(role.Of(role.All()...)) {
		t.Fatal("superadmin lacks a permission")
	}
}
