package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/session"
)

// logoutTypes counts the user.logout events by logoutType.
func (e *env) logoutTypes(t *testing.T) map[string]int {
	t.Helper()
	recs, err := e.outbox.Claim(t.Context(), 10000, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range recs {
		if r.Type == event.TypeUserLogout {
			out[payloadOf(t, r.Payload)["logoutType"].(string)]++
		}
	}
	return out
}

// TestEndExpiredSessions_LogoutTimeout_SE06: idle and overdue sessions end
// by the sweep, each with user.logout logoutType timeout, and their access
// tokens stop working at once; live sessions stay.
func TestEndExpiredSessions_LogoutTimeout_SE06(t *testing.T) {
	e := newEnv(t)
	idle := e.register(t, "ada@example.com", "ada")
	e.clock.Advance(policy.IdleTimeout - time.Hour)
	live := e.register(t, "bob@example.com", "bob")
	e.clock.Advance(2 * time.Hour) // ada's session is idle now, bob's is not
	n, err := e.svc.EndExpiredSessions(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want 1", n, err)
	}
	if got := e.logoutTypes(t); got["timeout"] != 1 || len(got) != 1 {
		t.Errorf("logout events = %v", got)
	}
	if revoked, _ := e.revoked.IsRevoked(t.Context(), idle.SessionID); !revoked {
		t.Error("the idle session's access tokens still pass")
	}
	if revoked, _ := e.revoked.IsRevoked(t.Context(), live.SessionID); revoked {
		t.Error("the live session was ended")
	}
	if n, _ := e.svc.EndExpiredSessions(t.Context()); n != 0 {
		t.Errorf("a second sweep ended %d", n)
	}
	// The absolute lifetime ends a session however busy it is: bob keeps
	// refreshing until the lifetime is about to end, then stops.
	expires := live.User.CreatedAt().Add(policy.AbsoluteLifetime)
	refresh := live.RefreshToken
	for e.clock.Now().Add(policy.IdleTimeout / 2).Before(expires) {
		e.clock.Advance(policy.IdleTimeout / 2)
		tok, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: refresh})
		if err != nil {
			t.Fatalf("refresh inside the lifetime: %v", err)
		}
		refresh = tok.RefreshToken
	}
	if n, _ := e.svc.EndExpiredSessions(t.Context()); n != 0 {
		t.Fatalf("a busy session inside its lifetime was swept (%d)", n)
	}
	e.clock.Advance(policy.IdleTimeout / 2)
	if n, _ := e.svc.EndExpiredSessions(t.Context()); n != 1 {
		t.Errorf("sweep past the absolute lifetime ended %d, want 1", n)
	}
	if got := e.logoutTypes(t); got["timeout"] != 2 {
		t.Errorf("logout events = %v", got)
	}
}

func (e *env) admin(t *testing.T) identity.Auth {
	t.Helper()
	if _, err := e.svc.EnsureAdmin(t.Context(), "root@example.com", goodPassword); err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "root@example.com", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestEndAllSessions_SE09(t *testing.T) {
	e := newEnv(t)
	admin := e.admin(t)
	for _, n := range []string{"ada", "bob", "cyd"} {
		e.register(t, n+"@example.com", n)
	}
	n, err := e.svc.EndAllSessions(t.Context(), e.claims(t, admin.AccessToken))
	if err != nil || n != 4 {
		t.Fatalf("end all = %d, %v; want 4 (the administrator's own included)", n, err)
	}
	if got := e.logoutTypes(t); got["forced"] != 4 {
		t.Errorf("logout events = %v", got)
	}
	if _, err := e.svc.Verify(t.Context(), admin.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Errorf("the administrator's own token: %v", err)
	}
}

func payloadOf(t *testing.T, envelope []byte) map[string]any {
	t.Helper()
	var env struct{ Data map[string]any }
	if err := json.Unmarshal(envelope, &env); err != nil {
		t.Fatal(err)
	}
	return env.Data
}

// recordingRotator is a ports.KeyRotator that counts rotations and fails
// with err.
type recordingRotator struct {
	rotations int
	err       error
}

func (r *recordingRotator) RotateNow(context.Context) error {
	r.rotations++
	return r.err
}

// TestEndAllSessions_RotatesKey_SE12: ending every session also retires
// the signing key at once, so tokens forged with a leaked key and an
// invented sid, which no session revocation can reach, die too. If the
// rotation fails, the administrator hears of it.
func TestEndAllSessions_RotatesKey_SE12(t *testing.T) {
	e := newEnv(t)
	admin := e.admin(t)
	e.register(t, "ada@example.com", "ada")
	if _, err := e.svc.EndAllSessions(t.Context(), e.claims(t, admin.AccessToken)); err != nil {
		t.Fatal(err)
	}
	if e.keys.rotations != 1 {
		t.Fatalf("%d key rotations, want 1", e.keys.rotations)
	}

	admin = e.admin(t)
	e.keys.err = errors.New("store down")
	if _, err := e.svc.EndAllSessions(t.Context(), e.claims(t, admin.AccessToken)); !errors.Is(err, e.keys.err) {
		t.Fatalf("EndAllSessions with a failing rotation: %v", err)
	}
	// A non-administrator rotates nothing.
	e.keys.err = nil
	ada := e.register(t, "ada2@example.com", "ada2")
	if _, err := e.svc.EndAllSessions(t.Context(), e.claims(t, ada.AccessToken)); !errors.Is(err, role.ErrDenied) {
		t.Fatalf("a user ending every session: %v", err)
	}
	if e.keys.rotations != 2 {
		t.Fatalf("%d key rotations, want 2", e.keys.rotations)
	}
}
