package admin_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/core/admin"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
)

var t0 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

type ids struct{ n atomic.Int64 }

func (i *ids) NewID() string          { return fmt.Sprintf("00000000-0000-7000-8000-%012d", i.n.Add(1)) }
func (i *ids) NewSecret(n int) []byte { return bytes.Repeat([]byte{byte(i.n.Add(1))}, n) }

type resets struct{ sent []user.ID }

func (r *resets) SendAdminReset(_ context.Context, uid, _ user.ID) error {
	r.sent = append(r.sent, uid)
	return nil
}

type rig struct {
	t        *testing.T
	m        *memory.Store
	clock    *clock
	ids      *ids
	users    *memory.Users
	sessions *memory.Sessions
	revoked  *memory.RevokedSessions
	outbox   *memory.Outbox
	resets   *resets
	svc      *admin.Users
	roles    *admin.Roles
	dir      *admin.Directory
}

func newRig(t *testing.T) *rig {
	t.Helper()
	m := memory.New()
	r := &rig{t: t, m: m, clock: &clock{t0}, ids: &ids{}, users: memory.NewUsers(m), sessions: memory.NewSessions(m),
		outbox: memory.NewOutbox(m, event.NewEncoder("urn:test", "https://schemas.test/", nil)), resets: &resets{}}
	r.revoked = memory.NewRevokedSessions(r.clock, time.Hour)
	auth, err := admin.NewAuthorizer(r.users, memory.NewRoles(m))
	if err != nil {
		t.Fatal(err)
	}
	tx, directory := memory.NewTransactor(m), memory.NewDirectory(m)
	r.svc, err = admin.NewUsers(admin.UsersDeps{Tx: tx, Users: r.users, Directory: directory, Sessions: r.sessions,
		Revoked: r.revoked, Outbox: r.outbox, Clock: r.clock, IDs: r.ids, Auth: auth, Resets: r.resets}, 30*24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.roles, err = admin.NewRoles(tx, memory.NewRoles(m), directory, r.clock, auth); err != nil {
		t.Fatal(err)
	}
	box, err := crypto.NewSecretBox(bytes.Repeat([]byte{7}, crypto.EncryptionKeySize))
	if err != nil {
		t.Fatal(err)
	}
	if r.dir, err = admin.NewDirectory(directory, box, auth); err != nil {
		t.Fatal(err)
	}
	return r
}

// account creates an active account holding roles, with one session, and
// returns its id and the claims of that session.
func (r *rig) account(name string, roles ...string) (user.ID, token.Claims, session.ID) {
	r.t.Helper()
	u, err := user.New(user.ID(r.ids.NewID()), name+"@example.com", name, "", r.clock.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := u.ReplaceRoles(nil, roles, r.clock.Now()); err != nil {
		r.t.Fatal(err)
	}
	if err := r.users.Create(r.t.Context(), u); err != nil {
		r.t.Fatal(err)
	}
	ss, _ := session.New(session.ID(r.ids.NewID()), u.ID(), r.ids.NewSecret(32), session.Client{IP: "192.0.2.1"}, []string{"pwd"},
		session.Policy{AbsoluteLifetime: time.Hour, IdleTimeout: time.Hour}, r.clock.Now())
	if err := r.sessions.Create(r.t.Context(), ss); err != nil {
		r.t.Fatal(err)
	}
	return u.ID(), token.Claims{Subject: string(u.ID()), SessionID: string(ss.ID), AMR: []string{"pwd"}}, ss.ID
}

func (r *rig) types() []string {
	recs, err := r.outbox.Claim(r.t.Context(), 1000, r.clock.Now(), r.clock.Now().Add(time.Minute))
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, x := range recs {
		out = append(out, x.Type)
	}
	return out
}

// AC-05: no escalation, no self-service through administration, and the
// last superadmin stays.
func TestNoEscalation_AC05(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	superID, super, _ := r.account("root", role.SuperAdmin)
	adminID, adm, _ := r.account("admin1", role.Admin)
	otherAdmin, _, _ := r.account("admin2", role.Admin)
	supportID, support, _ := r.account("help", role.Support)
	plain, _, _ := r.account("plain")

	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"admin grants superadmin", first(r.svc.SetRoles(ctx, adm, plain, []string{role.SuperAdmin})), role.ErrEscalation},
		{"admin makes a peer admin", first(r.svc.SetRoles(ctx, adm, plain, []string{role.Admin})), role.ErrOutranked},
		{"admin changes own roles", first(r.svc.SetRoles(ctx, adm, adminID, []string{role.Support})), role.ErrSelf},
		{"admin deactivates self", first(r.svc.Deactivate(ctx, adm, adminID, "test")), role.ErrSelf},
		{"admin deletes self", first(r.svc.Delete(ctx, adm, adminID, "test")), role.ErrSelf},
		{"admin deactivates another admin", first(r.svc.Deactivate(ctx, adm, otherAdmin, "test")), role.ErrOutranked},
		{"admin deactivates the superadmin", first(r.svc.Deactivate(ctx, adm, superID, "test")), role.ErrOutranked},
		{"support deactivates an admin", first(r.svc.Deactivate(ctx, support, adminID, "test")), role.ErrDenied},
		{"support edits a user", first(r.svc.Update(ctx, support, plain, user.AdminUpdate{})), role.ErrDenied},
		{"plain user lists accounts", first(r.dir.Search(ctx, token.Claims{Subject: string(plain)}, user.Query{}, "")), role.ErrDenied},
		{"superadmin demotes self", first(r.svc.SetRoles(ctx, super, superID, nil)), role.ErrSelf},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if _, err := r.svc.Deactivate(ctx, adm, supportID, "left the team"); err != nil {
		t.Errorf("admin deactivates support: %v", err)
	}

	// A custom role with every permission can act on the superadmin, but
	// not take away the last superadmin.
	if _, err := r.roles.Create(ctx, super, "root-equivalent", "", role.All()); err != nil {
		t.Fatal(err)
	}
	_, rootish, _ := r.account("rootish", "root-equivalent")
	if _, err := r.svc.SetRoles(ctx, rootish, superID, nil); !errors.Is(err, role.ErrLastSuper) {
		t.Errorf("removing the last superadmin: %v, want ErrLastSuper", err)
	}
	if _, err := r.svc.Delete(ctx, rootish, superID, "test"); !errors.Is(err, role.ErrLastSuper) {
		t.Errorf("deleting the last superadmin: %v, want ErrLastSuper", err)
	}
	if u, _ := r.users.ByID(ctx, superID); !u.HasRole(role.SuperAdmin) || !u.CanSignIn() {
		t.Errorf("the refused changes changed the superadmin: %+v", u.Snapshot())
	}
	// Nobody defines a role with a permission they lack.
	if _, err := r.roles.Create(ctx, adm, "keys", "", []role.Permission{role.APIKeysManage}); !errors.Is(err, role.ErrEscalation) {
		t.Errorf("admin defines a role beyond their own: %v", err)
	}
}

func first[T any](_ T, err error) error { return err }

// AC-06: a role change ends the account's access tokens at once (their
// session ids are revoked) and keeps the sign-in: the sessions live on
// under new ids.
func TestRoleChangeTakesEffectAtOnce_AC06(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	_, adm, _ := r.account("admin1", role.Admin)
	target, _, sid := r.account("staff", role.Support)
	if _, err := r.svc.SetRoles(ctx, adm, target, nil); err != nil {
		t.Fatal(err)
	}
	if revoked, _ := r.revoked.IsRevoked(ctx, sid); !revoked {
		t.Fatal("the old session id still passes the revocation check")
	}
	live, err := r.sessions.Live(ctx, target, r.clock.Now())
	if err != nil || len(live) != 1 || live[0].ID == sid {
		t.Fatalf("live sessions after the role change: %+v, %v", live, err)
	}
	if u, _ := r.users.ByID(ctx, target); u.HasRole(role.Support) {
		t.Fatal("the role is still held")
	}
	if got := r.types(); !slices.Equal(got, []string{event.TypeUserUpdated}) {
		t.Fatalf("events %v, want one user.updated", got)
	}
}

func TestLifecycle(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	adminID, adm, _ := r.account("admin1", role.Admin)
	target, _, sid := r.account("member")

	if _, err := r.svc.Deactivate(ctx, adm, target, ""); errors.Is(err, nil) || !errors.Is(err, admin.ErrInvalidReason) {
		t.Fatalf("deactivate without a reason: %v", err)
	}
	u, err := r.svc.Deactivate(ctx, adm, target, "abuse report 42")
	if err != nil || u.Status() != user.StatusInactive {
		t.Fatalf("deactivate: %v, %v", u.Status(), err)
	}
	if revoked, _ := r.revoked.IsRevoked(ctx, sid); !revoked {
		t.Fatal("deactivation left the session's tokens valid")
	}
	if got := r.types(); !slices.Equal(got, []string{event.TypeUserDeactivated, event.TypeUserLogout}) {
		t.Fatalf("events %v", got)
	}
	if _, err := r.svc.Deactivate(ctx, adm, target, "again"); err != nil || len(r.types()) != 0 {
		t.Fatalf("a second deactivation changed something: %v", err)
	}
	if _, err := r.svc.Activate(ctx, adm, target); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Delete(ctx, adm, target, "asked to leave"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Activate(ctx, adm, target); !errors.Is(err, user.ErrDeleted) {
		t.Fatalf("activating a deleted account: %v", err)
	}
	r.clock.t = r.clock.t.Add(29 * 24 * time.Hour)
	if u, err := r.svc.Restore(ctx, adm, target); err != nil || u.Status() != user.StatusInactive {
		t.Fatalf("restore inside the window: %v, %v", u.Status(), err)
	}
	if _, err := r.svc.Delete(ctx, adm, target, "asked again"); err != nil {
		t.Fatal(err)
	}
	r.clock.t = r.clock.t.Add(31 * 24 * time.Hour)
	if _, err := r.svc.Restore(ctx, adm, target); !errors.Is(err, user.ErrRestoreExpired) {
		t.Fatalf("restore after the window: %v", err)
	}
	if err := r.svc.SendPasswordReset(ctx, adm, adminID); err != nil || len(r.resets.sent) != 1 {
		t.Fatalf("password reset: %v, sent %v", err, r.resets.sent)
	}
}

// AC-04: a bulk request authorizes every item: an account the caller may
// not act on, at position 2, fails alone. A repeat changes nothing.
func TestBulkAuthorizesEveryItem_AC04(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	_, adm, _ := r.account("admin1", role.Admin)
	a, _, _ := r.account("alice")
	peer, _, _ := r.account("admin2", role.Admin)
	b, _, _ := r.account("bob")
	req := admin.Bulk{Action: admin.BulkDeactivate, IDs: []user.ID{a, peer, b, a}, Reason: "cleanup"}
	res, err := r.svc.Bulk(ctx, adm, req)
	if err != nil {
		t.Fatal(err)
	}
	want := []admin.ItemStatus{admin.ItemChanged, admin.ItemFailed, admin.ItemChanged}
	if len(res) != 3 {
		t.Fatalf("results %+v: want one per distinct id", res)
	}
	for i, x := range res {
		if x.Status != want[i] {
			t.Errorf("item %d (%s): %s %v, want %s", i, x.ID, x.Status, x.Err, want[i])
		}
	}
	if !errors.Is(res[1].Err, role.ErrOutranked) {
		t.Errorf("the peer admin failed with %v, want ErrOutranked", res[1].Err)
	}
	if u, _ := r.users.ByID(ctx, peer); !u.CanSignIn() {
		t.Fatal("the peer admin was deactivated")
	}
	res, err = r.svc.Bulk(ctx, adm, req)
	if err != nil || res[0].Status != admin.ItemUnchanged || res[2].Status != admin.ItemUnchanged {
		t.Fatalf("repeat: %+v, %v", res, err)
	}
	for _, bad := range []admin.Bulk{
		{Action: "explode", IDs: []user.ID{a}},
		{Action: admin.BulkDeactivate, IDs: nil, Reason: "x"},
		{Action: admin.BulkAssignRole, IDs: []user.ID{a}, Role: "no-such-role"},
		{Action: admin.BulkDelete, IDs: []user.ID{a}},
	} {
		if _, err := r.svc.Bulk(ctx, adm, bad); err == nil {
			t.Errorf("bulk %+v was accepted", bad)
		}
	}
	res, err = r.svc.Bulk(ctx, adm, admin.Bulk{Action: admin.BulkAssignRole, IDs: []user.ID{a, b}, Role: role.Support})
	if err != nil || res[0].Status != admin.ItemChanged {
		t.Fatalf("assign-role: %+v, %v", res, err)
	}
	if _, err := r.roles.Create(ctx, adm, "helpers", "", []role.Permission{role.UsersRead}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Bulk(ctx, adm, admin.Bulk{Action: admin.BulkAssignRole, IDs: []user.ID{b}, Role: "helpers"}); err != nil {
		t.Fatal(err)
	}
	if err := r.roles.Delete(ctx, adm, "helpers"); !errors.Is(err, admin.ErrRoleInUse) {
		t.Fatalf("deleting a held role: %v", err)
	}
	if _, err := r.svc.Bulk(ctx, adm, admin.Bulk{Action: admin.BulkRemoveRole, IDs: []user.ID{b}, Role: "helpers"}); err != nil {
		t.Fatal(err)
	}
	if u, _ := r.users.ByID(ctx, b); u.HasRole("helpers") || !u.HasRole(role.Support) {
		t.Fatalf("remove-role left roles %v", u.Roles())
	}
	if err := r.roles.Delete(ctx, adm, "helpers"); err != nil {
		t.Fatalf("deleting a role nobody holds: %v", err)
	}
}

func TestSearchCursors(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	_, adm, _ := r.account("admin1", role.Admin)
	for i := range 5 {
		r.clock.t = r.clock.t.Add(time.Second)
		r.account(fmt.Sprintf("user%d", i))
	}
	q := user.Query{Text: "user", Limit: 2}
	var seen []user.ID
	cursor := ""
	for range 5 {
		page, err := r.dir.Search(ctx, adm, q, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range page.Items {
			seen = append(seen, l.ID())
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if len(seen) != 5 || len(slices.Compact(slices.Clone(seen))) != 5 {
		t.Fatalf("paged through %v, want 5 distinct accounts", seen)
	}
	page, _ := r.dir.Search(ctx, adm, q, "")
	for name, c := range map[string]string{
		"edited":         page.Next[:len(page.Next)-2] + "AA",
		"garbage":        "not-a-cursor",
		"another filter": page.Next,
	} {
		q2 := q
		if name == "another filter" {
			q2.Text = "user1"
		}
		if _, err := r.dir.Search(ctx, adm, q2, c); !errors.Is(err, admin.ErrInvalidCursor) {
			t.Errorf("%s cursor: %v, want ErrInvalidCursor", name, err)
		}
	}
}

// SE-09: an administrator ends one user's sessions (logoutType forced);
// nobody else may, and a demoted administrator's token no longer can.
func TestEndUserSessions_Forced_SE09(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	adminID, adm, _ := r.account("admin1", role.Admin)
	bob, bobClaims, bobSession := r.account("bob")
	ada, _, adaSession := r.account("ada")
	if _, err := r.svc.EndSessions(ctx, bobClaims, ada); !errors.Is(err, role.ErrDenied) {
		t.Fatalf("a user ends another's sessions: %v", err)
	}
	if _, err := r.svc.EndSessions(ctx, adm, user.ID("00000000-0000-7000-8000-999999999999")); !errors.Is(err, user.ErrNotFound) {
		t.Errorf("an unknown user: %v", err)
	}
	n, err := r.svc.EndSessions(ctx, adm, bob)
	if err != nil || n != 1 {
		t.Fatalf("end bob's sessions = %d, %v", n, err)
	}
	if got := r.types(); !slices.Equal(got, []string{event.TypeUserLogout}) {
		t.Errorf("events %v, want one user.logout", got)
	}
	if revoked, _ := r.revoked.IsRevoked(ctx, bobSession); !revoked {
		t.Error("bob's session still passes")
	}
	if revoked, _ := r.revoked.IsRevoked(ctx, adaSession); revoked {
		t.Error("ada's session ended too")
	}
	if _, err := r.users.Update(ctx, adminID, func(u *user.User) error {
		_, err := u.ReplaceRoles([]string{role.Admin}, nil, r.clock.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.EndSessions(ctx, adm, ada); !errors.Is(err, role.ErrDenied) {
		t.Errorf("a demoted administrator's old token: %v", err)
	}
}
