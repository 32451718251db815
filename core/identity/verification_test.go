package identity_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/session"
)

func (e *env) verifyToken(t *testing.T) string {
	t.Helper()
	var link string
	for _, m := range e.mailbox.Messages() {
		if m.Kind == "email_verification" {
			link = m.Link
		}
	}
	_, tok, ok := strings.Cut(link, "/verify-email#token=")
	if !ok {
		t.Fatalf("no verification link (last %q)", link)
	}
	return tok
}

// verifyAddress follows the newest verification link: a second factor
// needs a verified address (MF-09).
func (e *env) verifyAddress(t *testing.T) {
	t.Helper()
	if err := e.svc.VerifyEmail(t.Context(), e.verifyToken(t)); err != nil {
		t.Fatalf("verify address: %v", err)
	}
}

func TestEmailVerification_OnRegistration(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	if a.User.EmailVerified() {
		t.Fatal("verified before the link was used")
	}
	tok := e.verifyToken(t)
	if err := e.svc.VerifyEmail(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.VerifyEmail(t.Context(), tok); !errors.Is(err, identity.ErrInvalidVerifyToken) {
		t.Fatalf("second use: %v", err)
	}
	u, _ := memoryUsers(e).ByID(t.Context(), a.User.ID())
	if !u.EmailVerified() {
		t.Fatal("not verified")
	}
	if v := e.payload(t, event.TypeUserUpdated); v["changes"].(map[string]any)["emailVerified"] != true {
		t.Fatalf("event = %v", v)
	}
	// A verification token is not a reset token (LG-07, SE-02 in spirit).
	if err := e.svc.ResetPassword(t.Context(), tok, "a fresh long passphrase"); !errors.Is(err, identity.ErrInvalidResetToken) {
		t.Fatalf("a verification token reset the password: %v", err)
	}
}

func TestEmailVerification_RequiredBlocksLogin_LG09(t *testing.T) {
	e := newEnv(t, func(c *config) { c.RequireVerifiedEmail = true })
	a := e.register(t, "ada@example.com", "ada")
	if a.AccessToken != "" || a.RefreshToken != "" {
		t.Fatal("registration opened a session before verification")
	}
	// The right password of an unconfirmed account answers as a wrong one
	// does, so whoever registered the address learns nothing (LG-09), and
	// the owner is sent a fresh link.
	links := len(e.mailbox.Messages())
	if _, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: goodPassword}); !errors.Is(err, credential.ErrInvalidCredentials) {
		t.Fatalf("login before verification: %v", err)
	}
	if len(e.mailbox.Messages()) != links+1 {
		t.Fatal("no fresh link for the owner who signed in before confirming")
	}
	if _, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: "wrong password"}); !errors.Is(err, credential.ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	before := len(e.mailbox.Messages())
	if err := e.svc.ResendVerification(t.Context(), "ada@example.com", session.Client{}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResendVerification(t.Context(), "nobody@example.com", session.Client{}); err != nil {
		t.Fatalf("resend for an unknown address: %v (the same nil as for an account)", err)
	}
	if len(e.mailbox.Messages()) != before+1 {
		t.Fatal("resend did not send exactly one mail")
	}
	if err := e.svc.VerifyEmail(t.Context(), e.verifyToken(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: goodPassword}); err != nil {
		t.Fatalf("login after verification: %v", err)
	}
}
