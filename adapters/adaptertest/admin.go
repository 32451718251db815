package adaptertest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/session"
)

// Roles is the contract of ports.Roles.
func Roles(t *testing.T, setup Setup) {
	run(t, setup, "create, get, list, update, delete", func(t *testing.T, s Stores) {
		ctx := t.Context()
		aud, err := role.New("auditor", "reads the trail", []role.Permission{role.AuditRead}, t0)
		if err != nil {
			t.Fatal(err)
		}
		ops, _ := role.New("ops", "", []role.Permission{role.SessionsRevoke, role.UsersRead}, t0)
		for _, r := range []role.Role{aud, ops} {
			if err := s.Roles.Create(ctx, r); err != nil {
				t.Fatalf("Create %s: %v", r.Name, err)
			}
		}
		if err := s.Roles.Create(ctx, aud); !errors.Is(err, role.ErrExists) {
			t.Fatalf("Create of a taken name = %v, want role.ErrExists", err)
		}
		got, err := s.Roles.Get(ctx, "ops")
		if err != nil || got.Description != "" || !slices.Equal(got.Permissions, ops.Permissions) || !got.CreatedAt.Equal(t0) {
			t.Fatalf("Get = %+v, %v; want %+v", got, err, ops)
		}
		list, err := s.Roles.List(ctx)
		if err != nil || len(list) != 2 || list[0].Name != "auditor" || list[1].Name != "ops" {
			t.Fatalf("List = %+v, %v; want auditor, ops", list, err)
		}
		perms := []role.Permission{role.AuditRead, role.UsersRead}
		up, err := s.Roles.Update(ctx, "auditor", func(r *role.Role) error {
			_, err := r.Apply(role.Edit{Permissions: &perms}, t0.Add(time.Hour))
			return err
		})
		if err != nil || !slices.Equal(up.Permissions, perms) {
			t.Fatalf("Update = %+v, %v", up, err)
		}
		if got, _ := s.Roles.Get(ctx, "auditor"); !slices.Equal(got.Permissions, perms) || !got.UpdatedAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("after Update, Get = %+v", got)
		}
		boom := errors.New("boom")
		if _, err := s.Roles.Update(ctx, "auditor", func(r *role.Role) error { r.Description = "x"; return boom }); !errors.Is(err, boom) {
			t.Fatalf("Update with a failing fn = %v", err)
		}
		if got, _ := s.Roles.Get(ctx, "auditor"); got.Description != "reads the trail" {
			t.Fatalf("a failed Update saved: %+v", got)
		}
		if _, err := s.Roles.Update(ctx, "nobody", func(*role.Role) error { return nil }); !errors.Is(err, role.ErrNotFound) {
			t.Fatalf("Update of a missing role = %v", err)
		}
		if err := s.Roles.Delete(ctx, "ops"); err != nil {
			t.Fatal(err)
		}
		if err := s.Roles.Delete(ctx, "ops"); !errors.Is(err, role.ErrNotFound) {
			t.Fatalf("second Delete = %v", err)
		}
		if _, err := s.Roles.Get(ctx, "ops"); !errors.Is(err, role.ErrNotFound) {
			t.Fatalf("Get after Delete = %v", err)
		}
	})
	run(t, setup, "a rolled-back Create leaves nothing", func(t *testing.T, s Stores) {
		ctx := t.Context()
		r, _ := role.New("temp", "", nil, t0)
		boom := errors.New("boom")
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if err := s.Roles.Create(ctx, r); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if _, err := s.Roles.Get(ctx, "temp"); !errors.Is(err, role.ErrNotFound) {
			t.Fatalf("Get after rollback = %v", err)
		}
	})
}

// SessionsReissue is the contract of ports.SessionReissuer.
func SessionsReissue(t *testing.T, setup Setup) {
	run(t, setup, "Reissue moves live sessions to new ids with their refresh tokens", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u, other := createUser(t, s), createUser(t, s)
		rotated, tok1 := createSession(t, s, u.ID(), t0)
		chain := rotateTimes(t, s, rotated, tok1, 2)
		plain, tok2 := createSession(t, s, u.ID(), t0.Add(time.Second))
		ended, _ := createSession(t, s, u.ID(), t0)
		if _, err := s.Sessions.Revoke(ctx, ended.ID, session.ReasonManual, t0); err != nil {
			t.Fatal(err)
		}
		theirs, _ := createSession(t, s, other.ID(), t0)

		var fresh []session.ID
		newID := func() session.ID { id := session.ID(newID(t)); fresh = append(fresh, id); return id }
		at := t0.Add(5 * time.Minute)
		var got []session.Revocation
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			var err error
			got, err = s.Sessions.Reissue(ctx, u.ID(), newID, at)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		gotIDs := []session.ID{}
		for _, r := range got {
			if r.UserID != u.ID() || !r.At.Equal(at) {
				t.Errorf("revocation %+v: want user %s at %v", r, u.ID(), at)
			}
			gotIDs = append(gotIDs, r.ID)
		}
		slices.Sort(gotIDs)
		want := []session.ID{rotated.ID, plain.ID}
		slices.Sort(want)
		if !slices.Equal(gotIDs, want) || len(fresh) != 2 {
			t.Fatalf("Reissue ended %v with %d new ids; want %v", gotIDs, len(fresh), want)
		}
		for _, id := range want {
			old, err := s.Sessions.ByID(ctx, id)
			if err != nil || old.RevokeReason != session.ReasonReissued || !old.RevokedAt.Equal(at) {
				t.Errorf("old session %s = %+v, %v; want ended as reissued", id, old, err)
			}
		}
		live, err := s.Sessions.Live(ctx, u.ID(), at)
		if err != nil || len(live) != 2 {
			t.Fatalf("Live after Reissue = %d sessions, %v; want 2", len(live), err)
		}
		for _, ss := range live {
			if !slices.Contains(fresh, ss.ID) {
				t.Errorf("live session %s has no new id", ss.ID)
			}
		}
		// The rotated session's live token, and one it rotated out, both
		// lead to its new id: refresh works and a replay is still reuse.
		for _, h := range []session.TokenHash{chain[len(chain)-1], chain[0]} {
			ss, err := s.Sessions.ByRefreshHash(ctx, h)
			if err != nil || !slices.Contains(fresh, ss.ID) || ss.Generation != 2 {
				t.Errorf("ByRefreshHash(%s) = %s gen %d, %v; want a new id at generation 2", h, ss.ID, ss.Generation, err)
			}
		}
		r, _ := session.PlanRotation(tok2, []byte("after-reissue"), plain.Client, policy, at.Add(time.Minute))
		next, _, err := s.Sessions.Rotate(ctx, r)
		if err != nil || !slices.Contains(fresh, next.ID) || !next.CreatedAt.Equal(plain.CreatedAt) {
			t.Fatalf("Rotate after Reissue = %s, %v; want the new id with the original sign-in time", next.ID, err)
		}
		if ss, err := s.Sessions.ByID(ctx, theirs.ID); err != nil || ss.Revoked() {
			t.Fatalf("another user's session = %+v, %v; want untouched", ss, err)
		}
	})
	run(t, setup, "a rolled-back Reissue changes nothing", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		ss, _ := createSession(t, s, u.ID(), t0)
		boom := errors.New("boom")
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if _, err := s.Sessions.Reissue(ctx, u.ID(), func() session.ID { return session.ID(newID(t)) }, t0); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		live, err := s.Sessions.Live(ctx, u.ID(), t0)
		if err != nil || len(live) != 1 || live[0].ID != ss.ID || live[0].RefreshHash != ss.RefreshHash {
			t.Fatalf("Live after rollback = %+v, %v; want the original session", live, err)
		}
	})
}
