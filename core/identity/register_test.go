package identity_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

func verificationRequired(c *config) { c.RequireVerifiedEmail = true }

// TestRegister_ExistingAddressAnswersAlike_LG09: with verification on, a
// registration of a taken address gets the answer a new one gets, and the
// address's owner hears of it; nothing is stored.
func TestRegister_ExistingAddressAnswersAlike_LG09(t *testing.T) {
	e := newEnv(t, verificationRequired)
	owner := e.register(t, "ada@example.com", "ada")
	client := session.Client{IP: "198.51.100.7", UserAgent: "curl"}
	fresh, err := e.svc.Register(t.Context(), identity.RegisterInput{Email: "bob@example.com", Username: "bob", Password: goodPassword, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.Register(t.Context(), identity.RegisterInput{Email: "ADA@example.com", Username: "ada2", Password: goodPassword, Client: client})
	if err != nil {
		t.Fatalf("a taken address: %v", err)
	}
	for _, a := range []identity.Auth{fresh, again} {
		if a.AccessToken != "" || a.RefreshToken != "" || a.Challenge != nil || a.User.EmailVerified() || a.User.Status() != user.StatusActive {
			t.Errorf("answer %+v differs from a new registration's", a)
		}
	}
	if again.User.Email() != "ada@example.com" || again.User.ID() == owner.User.ID() {
		t.Errorf("the answer shows the owner's account: %v", again.User.ID())
	}
	if _, err := memoryUsers(e).ByUsername(t.Context(), "ada2"); !errors.Is(err, user.ErrNotFound) {
		t.Errorf("the repeated registration was stored: %v", err)
	}
	if e.notices(ports.NoticeRegistrationAttempt) != 1 {
		t.Error("the owner was not told")
	}
	// A taken username may be said: usernames are public.
	if _, err := e.svc.Register(t.Context(), identity.RegisterInput{Email: "carol@example.com", Username: "ada", Password: goodPassword}); !errors.Is(err, user.ErrUsernameTaken) {
		t.Errorf("taken username: %v", err)
	}
}

// TestRegister_DefaultSaysTheAddressIsTaken_LG09: without verification the
// registrant would be signed in, so the answer must say the address is
// taken (the README says what this reveals).
func TestRegister_DefaultSaysTheAddressIsTaken_LG09(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com", "ada")
	if _, err := e.svc.Register(t.Context(), identity.RegisterInput{Email: "ada@example.com", Username: "ada2", Password: goodPassword}); !errors.Is(err, user.ErrEmailTaken) {
		t.Fatalf("taken address: %v", err)
	}
}

// TestRegister_SpendsTheAddressMailBudget_LG09: registrations mail the
// address (a link, or a notice to its owner), so they spend its budget:
// the sixth in an hour is refused, whether or not the address has an
// account, and the mailbox gets at most five messages.
func TestRegister_SpendsTheAddressMailBudget_LG09(t *testing.T) {
	e := newEnv(t, verificationRequired)
	var last error
	for i := range 6 {
		_, last = e.svc.Register(t.Context(), identity.RegisterInput{Email: "ada@example.com",
			Username: "ada" + string(rune('a'+i)), Password: goodPassword, Client: session.Client{IP: "198.51.100." + string(rune('1'+i))}})
	}
	if !errors.Is(last, identity.ErrTooManyAttempts) {
		t.Fatalf("sixth registration of one address: %v", last)
	}
	mails := 0
	for _, m := range e.mailbox.Messages() {
		if m.To == "ada@example.com" {
			mails++
		}
	}
	if mails > 5 {
		t.Errorf("%d mails to one address in an hour", mails)
	}
	e2 := newEnv(t, verificationRequired)
	for range 5 {
		_ = e2.svc.ResendVerification(t.Context(), "new@example.com", session.Client{})
	}
	if _, err := e2.svc.Register(t.Context(), identity.RegisterInput{Email: "new@example.com", Username: "new", Password: goodPassword}); !errors.Is(err, identity.ErrTooManyAttempts) {
		t.Errorf("an address whose budget resends spent: %v", err)
	}
}

// TestMailBudget_OneForEveryKindOfMail_LG09: registration, resend and
// reset requests about one address share its five mails an hour.
func TestMailBudget_OneForEveryKindOfMail_LG09(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com", "ada") // one: the verification link
	for range 6 {
		_ = e.svc.RequestPasswordReset(t.Context(), "ADA@example.com", session.Client{})
		_ = e.svc.ResendVerification(t.Context(), "ada@example.com", session.Client{})
	}
	mails := 0
	for _, m := range e.mailbox.Messages() {
		if m.To == "ada@example.com" {
			mails++
		}
	}
	if mails != 5 {
		t.Fatalf("%d mails to one address in an hour, want 5", mails)
	}
}

// TestLogin_UnconfirmedIsThrottledLikeAWrongPassword_LG09: with
// verification on, the registrant's own password on an address they just
// registered meets the same throttle as a wrong password on an address
// that already had an account, so a dozen sign-ins tell nothing.
func TestLogin_UnconfirmedIsThrottledLikeAWrongPassword_LG09(t *testing.T) {
	e := newEnv(t, verificationRequired, withLimits(identity.Limits{SlowAfter: 3, LoginPerAccountIP: 1000, LoginPerIP: 1000}))
	e.register(t, "owner@example.com", "owner") // the address that already had an account
	const theirs = "Other-Pass-Phrase-77"
	for _, email := range []string{"owner@example.com", "fresh@example.com"} {
		if _, err := e.svc.Register(t.Context(), identity.RegisterInput{Email: email, Username: "x" + email[:5], Password: theirs}); err != nil {
			t.Fatal(err)
		}
	}
	answers := map[string][]string{} // the problem code of each answer
	for _, email := range []string{"owner@example.com", "fresh@example.com"} {
		for range 5 {
			_, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: email, Password: theirs})
			code := "ok"
			if pe := (*errs.Error)(nil); errors.As(err, &pe) {
				code = pe.Code
			}
			answers[email] = append(answers[email], code)
		}
	}
	if !slices.Equal(answers["owner@example.com"], answers["fresh@example.com"]) {
		t.Fatalf("an existing and a fresh address answer differently:\n%v\n%v", answers["owner@example.com"], answers["fresh@example.com"])
	}
	if last := answers["fresh@example.com"][4]; last != "auth.too_many_attempts" {
		t.Fatalf("the unconfirmed account's sign-ins were never slowed: %v", answers["fresh@example.com"])
	}
}
