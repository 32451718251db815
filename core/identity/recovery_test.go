package identity_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/session"
)

func (e *env) resetToken(t *testing.T) string {
	t.Helper()
	mails := e.mailbox.Messages()
	if len(mails) == 0 {
		t.Fatal("no mail sent")
	}
	link := mails[len(mails)-1].Link
	_, tok, ok := strings.Cut(link, "#token=")
	if !ok || !strings.HasPrefix(link, "https://id.example.com/reset-password#") {
		t.Fatalf("link %q is not built from the public URL with the token in the fragment", link)
	}
	return tok
}

func TestPasswordReset_Flow_LG07_SE08(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	if err := e.svc.RequestPasswordReset(t.Context(), "ADA@example.com", session.Client{}); err != nil {
		t.Fatal(err)
	}
	tok := e.resetToken(t)
	mails := e.mailbox.Messages()
	if m := mails[len(mails)-1]; m.Kind != "password_reset" || m.To != "ada@example.com" || m.Expires.Sub(e.clock.Now()) != time.Hour {
		t.Fatalf("mail = %+v", m)
	}
	if err := e.svc.ResetPassword(t.Context(), tok, "short"); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("weak new password: %v", err)
	}
	if err := e.svc.ResetPassword(t.Context(), tok, "a fresh long passphrase"); err != nil {
		t.Fatalf("reset after a refused weak password (the token must survive it): %v", err)
	}
	if err := e.svc.ResetPassword(t.Context(), tok, "another long passphrase"); !errors.Is(err, identity.ErrInvalidResetToken) {
		t.Fatalf("second use: %v", err)
	}
	if _, err := e.svc.Verify(t.Context(), a.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("a session survived the reset: %v", err)
	}
	if _, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: "a fresh long passphrase"}); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	if v := e.payload(t, event.TypeUserPasswordChanged); v["securityLevel"] != "user" {
		t.Fatalf("event = %v", v)
	}
}

func TestPasswordReset_NewerRequestAndExpiryInvalidate_LG07(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com", "ada")
	_ = e.svc.RequestPasswordReset(t.Context(), "ada@example.com", session.Client{})
	first := e.resetToken(t)
	e.clock.Advance(time.Minute)
	_ = e.svc.RequestPasswordReset(t.Context(), "ada@example.com", session.Client{})
	second := e.resetToken(t)
	if err := e.svc.ResetPassword(t.Context(), first, "a fresh long passphrase"); !errors.Is(err, identity.ErrInvalidResetToken) {
		t.Fatalf("a replaced token worked: %v", err)
	}
	e.clock.Advance(time.Hour)
	if err := e.svc.ResetPassword(t.Context(), second, "a fresh long passphrase"); !errors.Is(err, identity.ErrInvalidResetToken) {
		t.Fatalf("an expired token worked: %v", err)
	}
}

func TestPasswordReset_PasswordChangeInvalidates_LG07(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	_ = e.svc.RequestPasswordReset(t.Context(), "ada@example.com", session.Client{})
	tok := e.resetToken(t)
	claims, _ := e.svc.Verify(t.Context(), a.AccessToken)
	if err := e.svc.ChangePassword(t.Context(), claims, goodPassword, "a changed long passphrase"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResetPassword(t.Context(), tok, "a fresh long passphrase"); !errors.Is(err, identity.ErrInvalidResetToken) {
		t.Fatalf("a reset token outlived a password change: %v", err)
	}
}

func TestPasswordReset_UnknownAddressSendsNothing_LG01(t *testing.T) {
	e := newEnv(t)
	for _, addr := range []string{"nobody@example.com", "not an address", "a@b.co\r\nBcc: evil@x.io"} {
		if err := e.svc.RequestPasswordReset(t.Context(), addr, session.Client{}); err != nil {
			t.Errorf("%q: %v, want the same nil as for an account", addr, err)
		}
	}
	if n := len(e.mailbox.Messages()); n != 0 {
		t.Fatalf("%d messages sent", n)
	}
	if err := e.svc.ResetPassword(t.Context(), strings.Repeat("A", 43), "a fresh long passphrase"); !errors.Is(err, identity.ErrInvalidResetToken) {
		t.Fatalf("a made-up token: %v", err)
	}
}
