package identity_test

import (
	"encoding/base32"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// mfaUser is a registered user with TOTP enabled.
type mfaUser struct {
	auth   identity.Auth // the session that enrolled, at AAL2 after it
	claims token.Claims
	seed   []byte
	codes  []string // backup codes
}

func (e *env) claims(t *testing.T, access string) token.Claims {
	t.Helper()
	c, err := e.svc.Verify(t.Context(), access)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return c
}

// totp returns the code of seed at the env's clock plus offset steps.
func (e *env) totp(t *testing.T, seed []byte, offset int64) string {
	t.Helper()
	c, err := crypto.NewOTP().TOTP(seed, mfa.Step(e.clock.Now())+offset)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enableTOTP registers email/username and enrols an authenticator app.
func (e *env) enableTOTP(t *testing.T, email, username string) mfaUser {
	t.Helper()
	a := e.register(t, email, username)
	e.verifyAddress(t)
	c := e.claims(t, a.AccessToken)
	setup, err := e.svc.BeginTOTP(t.Context(), c, identity.Reauth{Password: goodPassword})
	if err != nil {
		t.Fatalf("BeginTOTP: %v", err)
	}
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(setup.Secret)
	if err != nil || len(seed) != mfa.TOTPSecretSize {
		t.Fatalf("secret %q: %d bytes, %v", setup.Secret, len(seed), err)
	}
	en, err := e.svc.ConfirmFactor(t.Context(), c, mfa.MethodTOTP, e.totp(t, seed, 0))
	if err != nil {
		t.Fatalf("ConfirmFactor: %v", err)
	}
	e.clock.Advance(mfa.TOTPPeriod) // the confirming code is spent
	a.Tokens = en.Tokens
	return mfaUser{auth: a, claims: e.claims(t, en.Tokens.AccessToken), seed: seed, codes: en.BackupCodes}
}

func (e *env) challenge(t *testing.T, identifier string) *identity.Challenge {
	t.Helper()
	a, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: identifier, Password: goodPassword,
		Client: session.Client{IP: "192.0.2.1", UserAgent: "test"}})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if a.Challenge == nil || a.AccessToken != "" || a.RefreshToken != "" {
		t.Fatalf("login of an MFA account returned %+v, want a challenge and no tokens", a)
	}
	return a.Challenge
}

func (e *env) answer(t *testing.T, ch *identity.Challenge, code string) (identity.Auth, error) {
	t.Helper()
	return e.svc.LoginMFA(t.Context(), identity.LoginMFAInput{Token: ch.Token, Code: code,
		Client: session.Client{IP: "192.0.2.1", UserAgent: "test"}})
}

func (e *env) notices(kind ports.NoticeKind) int {
	n := 0
	for _, m := range e.mailbox.Messages() {
		if m.Kind == "security_notice" && m.Notice.Kind == kind {
			n++
		}
	}
	return n
}

func TestTOTP_EnrollAndConfirm_MF04_MF05(t *testing.T) {
	e := newEnv(t)
	other := e.register(t, "ada@example.com", "ada") // a second session of the account
	e.verifyAddress(t)
	a, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	c := e.claims(t, a.AccessToken)
	if _, err := e.svc.BeginTOTP(t.Context(), c, identity.Reauth{Password: "not the password"}); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("BeginTOTP with a wrong password: %v", err)
	}
	setup, err := e.svc.BeginTOTP(t.Context(), c, identity.Reauth{Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(setup.URI, "otpauth://totp/usermgmt:ada@example.com?") || !strings.Contains(setup.URI, "secret="+setup.Secret) {
		t.Errorf("uri = %s", setup.URI)
	}
	seed, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(setup.Secret)
	// The seed is sealed at rest (MF-04).
	pending, err := e.factors().Enrollment(t.Context(), a.User.ID(), mfa.MethodTOTP)
	if err != nil || len(pending.Secret) == 0 || strings.Contains(string(pending.Secret), string(seed)) {
		t.Fatalf("stored enrollment: %v, %q", err, pending.Secret)
	}
	// Not active before a valid code (MF-05).
	if u, _ := e.svc.Me(t.Context(), c); u.MFAEnabled() {
		t.Fatal("MFA on before confirmation")
	}
	if _, err := e.svc.ConfirmFactor(t.Context(), c, mfa.MethodTOTP, e.totp(t, seed, 2)); err == nil {
		t.Fatal("a code from a minute ahead confirmed the factor")
	}
	en, err := e.svc.ConfirmFactor(t.Context(), c, mfa.MethodTOTP, e.totp(t, seed, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(en.BackupCodes) != 10 || en.Tokens.AccessToken == "" || en.Tokens.RefreshToken == "" {
		t.Fatalf("confirm = %+v", en)
	}
	up := e.claims(t, en.Tokens.AccessToken)
	if !mfa.SecondFactor(up.AMR) || up.SessionID == c.SessionID {
		t.Errorf("the replacing session's token: amr %v sid %s (was %s)", up.AMR, up.SessionID, c.SessionID)
	}
	if u, _ := e.svc.Me(t.Context(), up); !u.MFAEnabled() {
		t.Error("MFA not on after confirmation")
	}
	if v := e.payload(t, event.TypeUserMFAEnabled); v["mfaMethod"] != "totp" || v["backupCodesGenerated"] != true {
		t.Errorf("user.mfa_enabled = %v", v)
	}
	// Every other session ended (SE-08), and so did the confirming one:
	// its tokens carry no second factor (SE-13). Its replacement lives on.
	for _, old := range []identity.Auth{other, a} {
		if _, err := e.svc.Verify(t.Context(), old.AccessToken); !errors.Is(err, session.ErrRevoked) {
			t.Errorf("a session opened before MFA, after enabling it: %v", err)
		}
	}
	if _, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken}); err == nil {
		t.Error("the confirming session's refresh token still works")
	}
	if _, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: en.Tokens.RefreshToken}); err != nil {
		t.Errorf("the replacing session cannot refresh: %v", err)
	}
	if e.notices(ports.NoticeMFAEnabled) != 1 {
		t.Error("no notice of the new factor")
	}
	st, err := e.svc.MyMFA(t.Context(), up)
	if err != nil || !st.Enabled || len(st.Factors) != 1 || st.Factors[0].Method != mfa.MethodTOTP || st.BackupCodesRemaining != 10 {
		t.Errorf("status = %+v, %v", st, err)
	}
	// A confirmed enrollment is gone: the same code cannot confirm again.
	if _, err := e.svc.ConfirmFactor(t.Context(), up, mfa.MethodTOTP, e.totp(t, seed, 0)); !errors.Is(err, mfa.ErrNoEnrollment) {
		t.Errorf("second confirmation: %v", err)
	}
}

// TestLoginMFA_TOTP_MF02_MF08: the password alone gives a challenge, not a
// session; a TOTP code completes it at AAL2; the same code never works twice.
func TestLoginMFA_TOTP_MF02_MF08(t *testing.T) {
	e := newEnv(t)
	u := e.enableTOTP(t, "ada@example.com", "ada")
	sessionsBefore := len(must(e.svc.MySessions(t.Context(), u.claims)))
	ch := e.challenge(t, "ada")
	if !slices.Equal(ch.Methods, []mfa.Method{mfa.MethodTOTP, mfa.MethodBackup}) || ch.ExpiresIn != mfa.ChallengeTTL {
		t.Errorf("challenge = %+v", ch)
	}
	// The challenge token is not an access token (MF-08, SE-02).
	if _, err := e.svc.Verify(t.Context(), ch.Token); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("challenge token as an access token: %v", err)
	}
	if n := len(must(e.svc.MySessions(t.Context(), u.claims))); n != sessionsBefore {
		t.Fatalf("the password alone opened a session (%d -> %d)", sessionsBefore, n)
	}
	code := e.totp(t, u.seed, 0)
	a, err := e.answer(t, ch, code)
	if err != nil {
		t.Fatal(err)
	}
	c := e.claims(t, a.AccessToken)
	if !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) || a.User.ID() != u.auth.User.ID() {
		t.Errorf("amr = %v", c.AMR)
	}
	if v := e.payload(t, event.TypeUserLogin); v["sessionId"] != c.SessionID {
		t.Errorf("user.login = %v", v)
	}
	// The challenge is single-use.
	if _, err := e.answer(t, ch, code); !errors.Is(err, mfa.ErrInvalidChallenge) {
		t.Errorf("the used challenge again: %v", err)
	}
	// The same code on a fresh challenge is a replay (MF-02).
	if _, err := e.answer(t, e.challenge(t, "ada"), code); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("replayed code: %v", err)
	}
	if v := e.payload(t, event.TypeUserSecurityViolation); v["violationType"] != "mfa_code_replay" {
		t.Errorf("violation = %v", v)
	}
	if e.notices(ports.NoticeCodeReused) != 1 {
		t.Error("the owner was not told of the replay")
	}
	// An earlier step's code is spent too: the last used step only rises.
	if _, err := e.answer(t, e.challenge(t, "ada"), e.totp(t, u.seed, -1)); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("a code of an earlier step: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestLoginMFA_ConcurrentSameCode_MF02: two sign-ins racing with one code
// (a phished code used twice) open exactly one session.
func TestLoginMFA_ConcurrentSameCode_MF02(t *testing.T) {
	e := newEnv(t)
	u := e.enableTOTP(t, "ada@example.com", "ada")
	chs := make([]*identity.Challenge, 10)
	for i := range chs {
		chs[i] = e.challenge(t, "ada")
	}
	code := e.totp(t, u.seed, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for _, ch := range chs {
		wg.Go(func() {
			if _, err := e.answer(t, ch, code); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d sign-ins succeeded with one code, want 1", wins)
	}
}

// TestLoginMFA_OneStepOfSkew_MF03: codes of the previous and next step
// work, two steps away do not, and the server's clock decides.
func TestLoginMFA_OneStepOfSkew_MF03(t *testing.T) {
	e := newEnv(t)
	u := e.enableTOTP(t, "ada@example.com", "ada")
	for _, c := range []struct {
		offset int64
		ok     bool
	}{{-2, false}, {2, false}, {-1, true}, {1, true}} {
		_, err := e.answer(t, e.challenge(t, "ada"), e.totp(t, u.seed, c.offset))
		if (err == nil) != c.ok {
			t.Errorf("code of step %+d: %v, want ok=%v", c.offset, err, c.ok)
		}
		e.clock.Advance(3 * mfa.TOTPPeriod) // each accepted code spends its step
	}
}

// TestLoginMFA_FiveWrongCodesDestroyTheChallenge_MF06.
func TestLoginMFA_FiveWrongCodesDestroyTheChallenge_MF06(t *testing.T) {
	e := newEnv(t)
	u := e.enableTOTP(t, "ada@example.com", "ada")
	ch := e.challenge(t, "ada")
	good := e.totp(t, u.seed, 0)
	wrong := "000000"
	if wrong == good {
		wrong = "111111"
	}
	for i := 1; i < mfa.MaxAttempts; i++ {
		if _, err := e.answer(t, ch, wrong); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := e.answer(t, ch, wrong); !errors.Is(err, mfa.ErrInvalidChallenge) {
		t.Fatalf("the fifth wrong code: %v, want the challenge gone", err)
	}
	if _, err := e.answer(t, ch, good); !errors.Is(err, mfa.ErrInvalidChallenge) {
		t.Fatalf("the right code after five wrong ones: %v", err)
	}
	if v := e.payload(t, event.TypeUserSecurityViolation); v["violationType"] != "mfa_guessing" {
		t.Errorf("violation = %v", v)
	}
	// The password opens a new challenge, and the right code works there.
	if _, err := e.answer(t, e.challenge(t, "ada"), good); err != nil {
		t.Fatalf("a new challenge with the right code: %v", err)
	}
	// Malformed answers count too.
	ch = e.challenge(t, "ada")
	for range mfa.MaxAttempts {
		_, _ = e.answer(t, ch, "not a code")
	}
	if _, err := e.answer(t, ch, e.totp(t, u.seed, 1)); !errors.Is(err, mfa.ErrInvalidChallenge) {
		t.Errorf("after five malformed answers: %v", err)
	}
}

// TestLoginMFA_OverallCap_MF06_LG05: wrong second-factor codes count
// toward the account's lockout across challenges, and a locked password
// locks the second step too.
func TestLoginMFA_OverallCap_MF06_LG05(t *testing.T) {
	e := newEnv(t, withLimits(identity.Limits{MaxFailures: 4, SlowAfter: 4, LoginPerIP: 1000, LoginPerAccountIP: 1000}))
	u := e.enableTOTP(t, "ada@example.com", "ada")
	for range 4 { // four challenges, one wrong code each: the cap is the account's, not the challenge's
		if _, err := e.answer(t, e.challenge(t, "ada"), "000001"); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("wrong code: %v", err)
		}
	}
	ch := e.challenge(t, "ada")
	if _, err := e.answer(t, ch, e.totp(t, u.seed, 0)); !errors.Is(err, identity.ErrTooManyAttempts) {
		t.Fatalf("the right code after the cap: %v", err)
	}
	if v := e.payload(t, event.TypeUserSecurityViolation); v["violationType"] != "brute_force" {
		t.Errorf("violation = %v", v)
	}
	// A password lockout refuses a challenge opened before it.
	e2 := newEnv(t, withLimits(identity.Limits{MaxFailures: 3, SlowAfter: 3, LoginPerIP: 1000, LoginPerAccountIP: 1000}))
	u2 := e2.enableTOTP(t, "bob@example.com", "bob")
	open := e2.challenge(t, "bob")
	for range 3 {
		_ = e2.login(t, "bob", "wrong password", "192.0.2.1")
	}
	if _, err := e2.answer(t, open, e2.totp(t, u2.seed, 0)); !errors.Is(err, identity.ErrTooManyAttempts) {
		t.Fatalf("second step on a locked account: %v", err)
	}
}

// TestLoginMFA_BackupCodes_MF07: a backup code signs in once; the count
// drops; regenerating needs the password and a factor and kills the old set.
func TestLoginMFA_BackupCodes_MF07(t *testing.T) {
	e := newEnv(t)
	u := e.enableTOTP(t, "ada@example.com", "ada")
	a, err := e.answer(t, e.challenge(t, "ada"), strings.ToUpper(u.codes[0]))
	if err != nil {
		t.Fatalf("backup code: %v", err)
	}
	c := e.claims(t, a.AccessToken)
	if !mfa.SecondFactor(c.AMR) {
		t.Errorf("amr = %v", c.AMR)
	}
	if _, err := e.answer(t, e.challenge(t, "ada"), u.codes[0]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("a used backup code again: %v", err)
	}
	if st, _ := e.svc.MyMFA(t.Context(), c); st.BackupCodesRemaining != 9 {
		t.Errorf("remaining = %d", st.BackupCodesRemaining)
	}
	if _, err := e.svc.RegenerateBackupCodes(t.Context(), c, identity.Reauth{Password: goodPassword}); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("regenerate without a factor code: %v", err)
	}
	fresh, err := e.svc.RegenerateBackupCodes(t.Context(), c, identity.Reauth{Password: goodPassword, Code: u.codes[1]})
	if err != nil || len(fresh) != 10 || slices.Contains(fresh, u.codes[2]) {
		t.Fatalf("regenerate: %d codes, %v", len(fresh), err)
	}
	if _, err := e.answer(t, e.challenge(t, "ada"), u.codes[2]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("a code of the old set after regeneration: %v", err)
	}
	if _, err := e.answer(t, e.challenge(t, "ada"), fresh[0]); err != nil {
		t.Errorf("a code of the new set: %v", err)
	}
	if e.notices(ports.NoticeBackupCodesRenewed) != 1 {
		t.Error("no notice of the new set")
	}
}

// TestAAL2Required_MF08: an account with MFA refuses sessions without a
// second factor everywhere a session acts: refresh, profile, sessions.
func TestAAL2Required_MF08(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	c := e.claims(t, a.AccessToken)
	// MFA turned on behind this session's back (as a concurrent enrollment
	// could): the AAL1 session must not act.
	if _, err := memoryUsers(e).Update(t.Context(), a.User.ID(), func(u *user.User) error { u.SetMFA(true, e.clock.Now()); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken}); !errors.Is(err, identity.ErrStepUpRequired) {
		t.Errorf("refresh: %v", err)
	}
	if _, err := e.svc.Me(t.Context(), c); !errors.Is(err, identity.ErrStepUpRequired) {
		t.Errorf("me: %v", err)
	}
	if _, err := e.svc.MySessions(t.Context(), c); !errors.Is(err, identity.ErrStepUpRequired) {
		t.Errorf("sessions: %v", err)
	}
	if _, err := e.svc.BeginTOTP(t.Context(), c, identity.Reauth{Password: goodPassword}); !errors.Is(err, identity.ErrStepUpRequired) {
		t.Errorf("an AAL1 session enrols its own factor: %v", err)
	}
	if err := e.svc.ChangePassword(t.Context(), c, goodPassword, "a brand new passphrase"); !errors.Is(err, identity.ErrStepUpRequired) {
		t.Errorf("password change: %v", err)
	}
}

// TestReset_DoesNotBypassMFA_LG08: a completed reset opens no session,
// and the next sign-in still needs the second factor.
func TestReset_DoesNotBypassMFA_LG08(t *testing.T) {
	e := newEnv(t)
	u := e.enableTOTP(t, "ada@example.com", "ada")
	if err := e.svc.RequestPasswordReset(t.Context(), "ada@example.com", session.Client{}); err != nil {
		t.Fatal(err)
	}
	msgs := e.mailbox.Messages()
	link := msgs[len(msgs)-1].Link
	tok := link[strings.Index(link, "#token=")+len("#token="):]
	if err := e.svc.ResetPassword(t.Context(), tok, "an entirely new passphrase"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Verify(t.Context(), u.auth.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Errorf("the session before the reset: %v", err)
	}
	a, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: "an entirely new passphrase"})
	if err != nil || a.Challenge == nil || a.AccessToken != "" {
		t.Fatalf("sign-in after the reset: %+v, %v; want a challenge", a, err)
	}
	if e.notices(ports.NoticePasswordReset) != 1 {
		t.Error("no notice that recovery was used")
	}
}

// TestDisableFactor_NeedsPasswordAndFactor_MF05_SE08.
func TestDisableFactor_NeedsPasswordAndFactor_MF05_SE08(t *testing.T) {
	e := newEnv(t)
	u := e.enableTOTP(t, "ada@example.com", "ada")
	other, err := e.answer(t, e.challenge(t, "ada"), u.codes[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []identity.Reauth{
		{Password: goodPassword},
		{Password: goodPassword, Code: "000000"},
		{Password: "wrong password", Code: e.totp(t, u.seed, 0)},
	} {
		if err := e.svc.DisableFactor(t.Context(), u.claims, mfa.MethodTOTP, in); errs.KindOf(err) != errs.Invalid {
			t.Fatalf("disable with %+v: %v", in, err)
		}
	}
	if err := e.svc.DisableFactor(t.Context(), u.claims, mfa.MethodSMS, identity.Reauth{Password: goodPassword, Code: u.codes[1]}); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Fatalf("disable a factor that is not there: %v", err)
	}
	if err := e.svc.DisableFactor(t.Context(), u.claims, mfa.MethodTOTP, identity.Reauth{Password: goodPassword, Code: e.totp(t, u.seed, 0)}); err != nil {
		t.Fatal(err)
	}
	v := e.payload(t, event.TypeUserUpdated)
	changes, _ := v["changes"].(map[string]any)
	if changes["mfaEnabled"] != false || len(changes["mfaMethods"].([]any)) != 0 {
		t.Errorf("user.updated = %v", v)
	}
	if _, err := e.svc.Verify(t.Context(), other.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Errorf("another session after the factor change: %v", err)
	}
	if a, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: goodPassword}); err != nil || a.Challenge != nil {
		t.Errorf("sign-in without MFA: %+v, %v", a.Challenge, err)
	}
	if st, _ := e.svc.MyMFA(t.Context(), u.claims); st.Enabled || st.BackupCodesRemaining != 0 {
		t.Errorf("status after disabling = %+v", st)
	}
}

// TestEmailFactor: a verified address becomes a factor with a mailed code;
// sign-in sends one on request, and it works once.
func TestEmailFactor(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	c := e.claims(t, a.AccessToken)
	if _, err := e.svc.BeginCodeFactor(t.Context(), c, mfa.MethodEmail, "", identity.Reauth{Password: goodPassword}); !errors.Is(err, identity.ErrEmailNotVerifiedForMFA) {
		t.Fatalf("an unverified address as a factor: %v", err)
	}
	verify := e.mailbox.Messages()[0].Link
	if err := e.svc.VerifyEmail(t.Context(), verify[strings.Index(verify, "#token=")+7:]); err != nil {
		t.Fatal(err)
	}
	sent, err := e.svc.BeginCodeFactor(t.Context(), c, mfa.MethodEmail, "", identity.Reauth{Password: goodPassword})
	if err != nil || sent.SentTo != "a•••@example.com" {
		t.Fatalf("begin: %+v, %v", sent, err)
	}
	code := e.lastCode(t)
	en, err := e.svc.ConfirmFactor(t.Context(), c, mfa.MethodEmail, code)
	if err != nil || len(en.BackupCodes) != 10 {
		t.Fatalf("confirm: %+v, %v", en, err)
	}
	if v := e.payload(t, event.TypeUserMFAEnabled); v["mfaMethod"] != "email" {
		t.Errorf("user.mfa_enabled = %v", v)
	}
	ch := e.challenge(t, "ada")
	if !slices.Equal(ch.Methods, []mfa.Method{mfa.MethodEmail, mfa.MethodBackup}) {
		t.Errorf("methods = %v", ch.Methods)
	}
	if _, err := e.answer(t, ch, code); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("the enrollment code at sign-in: %v", err)
	}
	if _, err := e.svc.SendChallengeCode(t.Context(), ch.Token, mfa.MethodSMS); !errors.Is(err, mfa.ErrUnavailable) {
		t.Errorf("a method the account lacks: %v", err)
	}
	if _, err := e.svc.SendChallengeCode(t.Context(), ch.Token, mfa.MethodEmail); err != nil {
		t.Fatal(err)
	}
	got, err := e.answer(t, ch, e.lastCode(t))
	if err != nil {
		t.Fatal(err)
	}
	if cl := e.claims(t, got.AccessToken); !slices.Equal(cl.AMR, []string{"pwd", "email", "mfa"}) {
		t.Errorf("amr = %v", cl.AMR)
	}
	// A sent code expires with CodeTTL.
	ch = e.challenge(t, "ada")
	if _, err := e.svc.SendChallengeCode(t.Context(), ch.Token, mfa.MethodEmail); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(mfa.CodeTTL)
	if _, err := e.answer(t, ch, e.lastCode(t)); err == nil {
		t.Error("an expired emailed code worked")
	}
}

func (e *env) lastCode(t *testing.T) string {
	t.Helper()
	msgs := e.mailbox.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Kind == "sign_in_code" {
			return msgs[i].Code
		}
	}
	t.Fatal("no code was mailed")
	return ""
}

// TestSMSFactor: a phone becomes a factor with a texted code, sending is
// budgeted per account (toll fraud), and a re-authentication code stands
// for the factor when it is removed.
func TestSMSFactor(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	e.verifyAddress(t)
	c := e.claims(t, a.AccessToken)
	if _, err := e.svc.BeginCodeFactor(t.Context(), c, mfa.MethodSMS, "555-0123", identity.Reauth{Password: goodPassword}); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("a number that is not E.164: %v", err)
	}
	sent, err := e.svc.BeginCodeFactor(t.Context(), c, mfa.MethodSMS, "+1 415 555 0123", identity.Reauth{Password: goodPassword})
	if err != nil || sent.SentTo != "+1••••••••23" {
		t.Fatalf("begin: %+v, %v", sent, err)
	}
	sms := e.sms.Messages()
	if len(sms) != 1 || sms[0].To != "+14155550123" {
		t.Fatalf("sms = %+v", sms)
	}
	code := smsCode(t, sms[0].Text)
	en, err := e.svc.ConfirmFactor(t.Context(), c, mfa.MethodSMS, code)
	if err != nil {
		t.Fatal(err)
	}
	c = e.claims(t, en.Tokens.AccessToken)
	ch := e.challenge(t, "ada")
	if _, err := e.svc.SendChallengeCode(t.Context(), ch.Token, mfa.MethodSMS); err != nil {
		t.Fatal(err)
	}
	if _, err := e.answer(t, ch, smsCode(t, e.sms.Messages()[1].Text)); err != nil {
		t.Fatalf("sign-in with the texted code: %v", err)
	}
	// The account's sending budget: 5 codes per channel in 15 minutes.
	ch = e.challenge(t, "ada")
	var last error
	for range 6 {
		_, last = e.svc.SendChallengeCode(t.Context(), ch.Token, mfa.MethodSMS)
	}
	if !errors.Is(last, identity.ErrTooManyAttempts) {
		t.Errorf("the sixth code in 15 minutes: %v", last)
	}
	// The number's own budget (5 an hour) is spent too: a quarter of an
	// hour frees the account's budget but not the number's.
	e.clock.Advance(16 * time.Minute)
	if _, err := e.svc.RequestReauthCode(t.Context(), c, mfa.MethodSMS); !errors.Is(err, identity.ErrTooManyAttempts) {
		t.Fatalf("the number's sixth code in an hour: %v", err)
	}
	e.clock.Advance(45 * time.Minute)
	// Removing the only factor with a re-authentication code.
	if _, err := e.svc.RequestReauthCode(t.Context(), c, mfa.MethodSMS); err != nil {
		t.Fatal(err)
	}
	msgs := e.sms.Messages()
	if err := e.svc.DisableFactor(t.Context(), c, mfa.MethodSMS, identity.Reauth{Password: goodPassword, Code: smsCode(t, msgs[len(msgs)-1].Text)}); err != nil {
		t.Fatalf("disable with a re-authentication code: %v", err)
	}
}

func smsCode(t *testing.T, text string) string {
	t.Helper()
	for _, f := range strings.Fields(text) {
		if d, ok := mfa.NormalizeDigits(strings.TrimSuffix(f, ".")); ok {
			return d
		}
	}
	t.Fatalf("no code in %q", text)
	return ""
}

// TestSecurityNotices_LG06: the owner hears of sign-ins from new clients,
// of sign-ins after failures, and of password changes.
func TestSecurityNotices_LG06(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada") // 192.0.2.1, "test"
	if _, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: goodPassword,
		Client: session.Client{IP: "192.0.2.1", UserAgent: "test"}}); err != nil {
		t.Fatal(err)
	}
	if n := e.notices(ports.NoticeNewDevice); n != 0 {
		t.Fatalf("a known client got %d new-device notices", n)
	}
	if _, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: goodPassword,
		Client: session.Client{IP: "198.51.100.7", UserAgent: "curl/8"}}); err != nil {
		t.Fatal(err)
	}
	msgs := e.mailbox.Messages()
	if last := msgs[len(msgs)-1]; last.Notice.Kind != ports.NoticeNewDevice || last.Notice.IP != "198.51.100.7" || last.To != "ada@example.com" {
		t.Fatalf("new-device notice = %+v", last)
	}
	for range 3 {
		_ = e.login(t, "ada", "wrong password", "192.0.2.1")
	}
	if _, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: goodPassword,
		Client: session.Client{IP: "192.0.2.1", UserAgent: "test"}}); err != nil {
		t.Fatal(err)
	}
	msgs = e.mailbox.Messages()
	if last := msgs[len(msgs)-1]; last.Notice.Kind != ports.NoticeSignInAfterFailures || last.Notice.Failures != 3 {
		t.Fatalf("after-failures notice = %+v", last)
	}
	if err := e.svc.ChangePassword(t.Context(), e.claims(t, a.AccessToken), goodPassword, "a brand new passphrase"); err != nil {
		t.Fatal(err)
	}
	if e.notices(ports.NoticePasswordChanged) != 1 {
		t.Error("no notice of the password change")
	}
}

// TestLoginMFA_WrongBackupCodesCountAsWrong_MF06_MF07: a well-formed
// backup code that is not the account's is a wrong code, not a replay: it
// spends an attempt, and five of them destroy the challenge.
func TestLoginMFA_WrongBackupCodesCountAsWrong_MF06_MF07(t *testing.T) {
	e := newEnv(t)
	u := e.enableTOTP(t, "ada@example.com", "ada")
	ch := e.challenge(t, "ada")
	notMine := mfa.FormatBackupCode([]byte("not-one-of-mine")) // well formed, 15 bytes
	for i := 1; i < mfa.MaxAttempts; i++ {
		if _, err := e.answer(t, ch, notMine); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("wrong backup code %d: %v", i, err)
		}
	}
	if _, err := e.answer(t, ch, notMine); !errors.Is(err, mfa.ErrInvalidChallenge) {
		t.Fatalf("the fifth wrong backup code: %v, want the challenge gone", err)
	}
	for _, typ := range e.events(t) {
		if typ == event.TypeUserSecurityViolation {
			if v := e.payload(t, event.TypeUserSecurityViolation); v["violationType"] == "mfa_code_replay" {
				t.Fatalf("a wrong backup code was reported as a replay: %v", v)
			}
		}
	}
	// A used one is refused the same way, with no replay report either.
	if _, err := e.answer(t, e.challenge(t, "ada"), u.codes[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.answer(t, e.challenge(t, "ada"), u.codes[0]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("a used backup code: %v", err)
	}
	if v := e.payload(t, event.TypeUserSecurityViolation); v["violationType"] == "mfa_code_replay" {
		t.Errorf("a used backup code was reported as a TOTP replay: %v", v)
	}
}

// TestRecoveryAndEmailFactorAreOneChannel_MF08: after a reset by emailed
// link, the email factor does not finish the next sign-in while another
// method remains (here the backup codes): the same mailbox would otherwise
// pass both steps. A completed sign-in ends that.
func TestRecoveryAndEmailFactorAreOneChannel_MF08(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	c := e.claims(t, a.AccessToken)
	verify := e.mailbox.Messages()[0].Link
	if err := e.svc.VerifyEmail(t.Context(), verify[strings.Index(verify, "#token=")+7:]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.BeginCodeFactor(t.Context(), c, mfa.MethodEmail, "", identity.Reauth{Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	en, err := e.svc.ConfirmFactor(t.Context(), c, mfa.MethodEmail, e.lastCode(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RequestPasswordReset(t.Context(), "ada@example.com", session.Client{}); err != nil {
		t.Fatal(err)
	}
	msgs := e.mailbox.Messages()
	link := msgs[len(msgs)-1].Link
	if err := e.svc.ResetPassword(t.Context(), link[strings.Index(link, "#token=")+7:], "an entirely new passphrase"); err != nil {
		t.Fatal(err)
	}
	login := func() *identity.Challenge {
		t.Helper()
		a, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: "an entirely new passphrase",
			Client: session.Client{IP: "192.0.2.1", UserAgent: "test"}})
		if err != nil || a.Challenge == nil {
			t.Fatalf("login: %+v, %v", a, err)
		}
		return a.Challenge
	}
	ch := login()
	if !slices.Equal(ch.Methods, []mfa.Method{mfa.MethodBackup}) {
		t.Fatalf("methods after an emailed recovery = %v, want backup codes only", ch.Methods)
	}
	if _, err := e.svc.SendChallengeCode(t.Context(), ch.Token, mfa.MethodEmail); !errors.Is(err, mfa.ErrUnavailable) {
		t.Fatalf("an emailed code after an emailed recovery: %v", err)
	}
	if _, err := e.answer(t, ch, en.BackupCodes[0]); err != nil {
		t.Fatalf("the backup code: %v", err)
	}
	if ch := login(); !slices.Equal(ch.Methods, []mfa.Method{mfa.MethodEmail, mfa.MethodBackup}) {
		t.Errorf("methods after a completed sign-in = %v", ch.Methods)
	}
}
