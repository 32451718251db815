package identity_test

import (
	"errors"
	"testing"

	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// TestFactors_NeedAVerifiedAddress_MF09: whoever registers an address they
// do not own cannot put a factor between its owner and a mailbox reset.
func TestFactors_NeedAVerifiedAddress_MF09(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	c := e.claims(t, a.AccessToken)
	if _, err := e.svc.BeginTOTP(t.Context(), c, identity.Reauth{Password: goodPassword}); !errors.Is(err, identity.ErrEmailNotVerifiedForMFA) {
		t.Errorf("TOTP on an unverified address: %v", err)
	}
	for _, m := range []mfa.Method{mfa.MethodSMS, mfa.MethodEmail} {
		if _, err := e.svc.BeginCodeFactor(t.Context(), c, m, "+14155550123", identity.Reauth{Password: goodPassword}); !errors.Is(err, identity.ErrEmailNotVerifiedForMFA) {
			t.Errorf("%s on an unverified address: %v", m, err)
		}
	}
	if len(e.sms.Messages()) != 0 {
		t.Error("a code was texted for an unverified account")
	}
}

// unverifiedWithTOTP is an account as an earlier version could leave it:
// an authenticator enrolled while the address was still unverified.
func (e *env) unverifiedWithTOTP(t *testing.T) mfaUser {
	t.Helper()
	u := e.enableTOTP(t, "ada@example.com", "ada")
	if _, err := memoryUsers(e).Update(t.Context(), u.auth.User.ID(), func(u *user.User) error {
		st := u.Snapshot()
		st.EmailVerified = false
		r, err := user.Rehydrate(st)
		*u = r
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *env) wantNoFactors(t *testing.T, uid user.ID) {
	t.Helper()
	u, err := memoryUsers(e).ByID(t.Context(), uid)
	if err != nil {
		t.Fatal(err)
	}
	if u.MFAEnabled() || !u.EmailVerified() {
		t.Errorf("mfaEnabled %v, emailVerified %v; want false, true", u.MFAEnabled(), u.EmailVerified())
	}
	a, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: goodPassword})
	if err != nil || a.Challenge != nil || a.AccessToken == "" {
		t.Errorf("sign-in wants no second factor: %+v, %v", a.Challenge, err)
	}
	if v := e.payload(t, event.TypeUserUpdated); v["changes"].(map[string]any)["mfaEnabled"] != false {
		t.Errorf("user.updated = %v", v)
	}
}

// TestReset_DropsFactorsOfAnUnverifiedAddress_MF09: the owner's mailbox
// reset ends at a sign-in they can finish, not at someone else's TOTP.
func TestReset_DropsFactorsOfAnUnverifiedAddress_MF09(t *testing.T) {
	e := newEnv(t)
	u := e.unverifiedWithTOTP(t)
	if err := e.svc.RequestPasswordReset(t.Context(), "ada@example.com", session.Client{}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResetPassword(t.Context(), e.resetToken(t), goodPassword); err != nil {
		t.Fatal(err)
	}
	e.wantNoFactors(t, u.auth.User.ID())
}

// TestVerifyEmail_DropsFactorsEnrolledBefore_MF09: the same when the owner
// follows the verification link.
func TestVerifyEmail_DropsFactorsEnrolledBefore_MF09(t *testing.T) {
	e := newEnv(t)
	u := e.unverifiedWithTOTP(t)
	if err := e.svc.ResendVerification(t.Context(), "ada@example.com", session.Client{}); err != nil {
		t.Fatal(err)
	}
	e.verifyAddress(t)
	e.wantNoFactors(t, u.auth.User.ID())
}

// TestReset_KeepsFactorsOfAVerifiedAddress_MF09: a verified owner's
// factors stay through a reset (LG-08 still holds).
func TestReset_KeepsFactorsOfAVerifiedAddress_MF09(t *testing.T) {
	e := newEnv(t)
	e.enableTOTP(t, "ada@example.com", "ada")
	if err := e.svc.RequestPasswordReset(t.Context(), "ada@example.com", session.Client{}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResetPassword(t.Context(), e.resetToken(t), goodPassword); err != nil {
		t.Fatal(err)
	}
	if a := e.challenge(t, "ada"); a == nil {
		t.Fatal("no challenge")
	}
}

// TestAdminResetsMFA_MF09: an administrator removes a user's factors; the
// user's sessions end, the user is told, and the act is on record.
func TestAdminResetsMFA_MF09(t *testing.T) {
	e := newEnv(t)
	admin := e.admin(t)
	u := e.enableTOTP(t, "ada@example.com", "ada")
	uid := u.auth.User.ID()
	bob := e.register(t, "bob@example.com", "bob")

	if err := e.svc.ResetUserMFA(t.Context(), e.claims(t, bob.AccessToken), uid); !errors.Is(err, role.ErrDenied) {
		t.Fatalf("a user reset another's factors: %v", err)
	}
	if err := e.svc.ResetUserMFA(t.Context(), e.claims(t, admin.AccessToken), "no-such-user"); !errors.Is(err, user.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	if err := e.svc.ResetUserMFA(t.Context(), e.claims(t, admin.AccessToken), uid); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Verify(t.Context(), u.auth.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Errorf("the user's session after the reset: %v", err)
	}
	v := e.payload(t, event.TypeUserUpdated)
	if v["updatedBy"] != string(admin.User.ID()) || v["changes"].(map[string]any)["mfaEnabled"] != false {
		t.Errorf("user.updated = %v", v)
	}
	if e.notices(ports.NoticeMFAReset) != 1 {
		t.Error("the user was not told")
	}
	if n, _ := memory.NewBackupCodes(e.store).Remaining(t.Context(), uid); n != 0 {
		t.Errorf("%d backup codes left", n)
	}
	e.wantNoFactors(t, uid)
	if err := e.svc.ResetUserMFA(t.Context(), e.claims(t, admin.AccessToken), uid); !errors.Is(err, identity.ErrNoMFA) {
		t.Errorf("a second reset: %v", err)
	}
}
