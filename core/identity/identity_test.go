package identity_test

import (
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
)

func TestRegister(t *testing.T) {
	tests := []struct {
		name       string
		email      string
		username   string
		password   string
		seed       bool
		wantKind   errs.Kind
		wantFields []string
	}{
		{name: "ok", email: "Ada@Example.com", username: "ada", password: goodPassword},
		{name: "duplicate email in another case", email: "ADA@example.com", username: "other", password: goodPassword, seed: true, wantKind: errs.Conflict},
		{name: "duplicate username", email: "x@example.com", username: "ADA", password: goodPassword, seed: true, wantKind: errs.Conflict},
		{name: "every field invalid at once", email: "nope", username: "a", password: "short", wantKind: errs.Invalid,
			wantFields: []string{"email", "username", "password"}},
		{name: "header injection in email", email: "a@b.co\r\nBcc: evil@x.io", username: "ada", password: goodPassword, wantKind: errs.Invalid, wantFields: []string{"email"}},
		{name: "common password PW05", email: "a@example.com", username: "ada", password: "Password123", wantKind: errs.Invalid, wantFields: []string{"password"}},
		{name: "password contains username PW05", email: "a@example.com", username: "adalovelace", password: "my name is adalovelace!", wantKind: errs.Invalid, wantFields: []string{"password"}},
		{name: "7 code points PW01", email: "a@example.com", username: "ada", password: "ééééééé", wantKind: errs.Invalid, wantFields: []string{"password"}},
		{name: "129 code points PW02", email: "a@example.com", username: "ada", password: string(make([]byte, 0)) + repeat("x", 129), wantKind: errs.Invalid, wantFields: []string{"password"}},
		{name: "emoji and spaces allowed PW04", email: "a@example.com", username: "ada", password: "🔑 my quiet garden 🌱"},
		{name: "64 characters allowed PW02", email: "a@example.com", username: "ada", password: repeat("q", 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tt.seed {
				e.register(t, "ada@example.com", "ada")
			}
			before := len(e.events(t))
			a, err := e.svc.Register(t.Context(), identity.RegisterInput{Email: tt.email, Username: tt.username, Password: tt.password})
			if tt.wantKind != errs.Internal || err != nil {
				if got := errs.KindOf(err); got != tt.wantKind || err == nil {
					t.Fatalf("kind = %v (%v), want %v", got, err, tt.wantKind)
				}
				var de *errs.Error
				errors.As(err, &de)
				for _, f := range tt.wantFields {
					if !slices.ContainsFunc(de.Fields, func(x errs.FieldError) bool { return x.Field == f }) {
						t.Errorf("fields %v do not name %q", de.Fields, f)
					}
				}
				if n := len(e.events(t)); n != before {
					t.Errorf("a failed registration appended %d events", n-before)
				}
				return
			}
			if a.User.Email() != "ada@example.com" && tt.email == "Ada@Example.com" {
				t.Errorf("email not normalised: %q", a.User.Email())
			}
			if a.AccessToken == "" || !session.WellFormed(a.RefreshToken) {
				t.Errorf("tokens not issued: %+v", a.Tokens)
			}
			if got := e.events(t); !slices.Equal(got, []string{event.TypeUserCreated}) {
				t.Errorf("events = %v", got)
			}
			data := e.payload(t, event.TypeUserCreated)
			if data["registrationMethod"] != "email" || data["role"] != "user" || data["userId"] != string(a.User.ID()) {
				t.Errorf("user.created payload = %v", data)
			}
		})
	}
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

func TestRegister_ConcurrentSameEmail_IV02(t *testing.T) {
	// Without the address's mail budget, which would refuse all but five:
	// the unique index alone must decide the race.
	e := newEnv(t, func(c *config) { c.Limits.Disabled = true })
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, conflicts := 0, 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.Register(t.Context(), identity.RegisterInput{Email: "same@example.com",
				Username: "user" + string(rune('a'+i)) + "x", Password: goodPassword})
			mu.Lock()
			defer mu.Unlock()
			switch errs.KindOf(err) {
			case errs.Internal:
				if err != nil {
					t.Errorf("unexpected: %v", err)
				}
				ok++
			case errs.Conflict:
				conflicts++
			default:
				t.Errorf("unexpected: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || conflicts != 19 {
		t.Fatalf("ok=%d conflicts=%d, want 1 and 19", ok, conflicts)
	}
}

func TestLogin_NoEnumeration_LG01(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com", "ada")
	before := e.hasher.verifies.Load()
	_, errUnknown := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "nobody@example.com", Password: goodPassword})
	mid := e.hasher.verifies.Load()
	_, errWrong := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada@example.com", Password: "wrong password!"})
	after := e.hasher.verifies.Load()
	if !errors.Is(errUnknown, credential.ErrInvalidCredentials) || !errors.Is(errWrong, credential.ErrInvalidCredentials) {
		t.Fatalf("errors differ: unknown=%v wrong=%v", errUnknown, errWrong)
	}
	if errUnknown.Error() != errWrong.Error() {
		t.Errorf("messages differ: %q vs %q", errUnknown, errWrong)
	}
	if mid-before != 1 || after-mid != 1 {
		t.Errorf("verifications: unknown=%d wrong=%d, want one each (dummy hash)", mid-before, after-mid)
	}
}

func TestLogin_NewSessionEachTime_SE07(t *testing.T) {
	e := newEnv(t)
	reg := e.register(t, "ada@example.com", "ada")
	for _, id := range []string{"ada@example.com", "ADA", "Ada@EXAMPLE.com"} {
		a, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: id, Password: goodPassword, Client: session.Client{IP: "198.51.100.7"}})
		if err != nil {
			t.Fatalf("login %q: %v", id, err)
		}
		if a.SessionID == reg.SessionID || a.RefreshToken == reg.RefreshToken {
			t.Fatalf("login reused the session or family")
		}
		reg = a
	}
	data := e.payload(t, event.TypeUserLogin)
	if data["loginMethod"] != "password" || data["ipAddress"] != "198.51.100.7" || data["sessionId"] != string(reg.SessionID) {
		t.Errorf("user.login payload = %v", data)
	}
}

func TestLogin_DisabledAccountOnlyAfterPassword(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	_, err := memoryUsers(e).Update(t.Context(), a.User.ID(), func(u *user.User) error {
		s := u.Snapshot()
		s.Status = "inactive"
		*u, _ = user.Rehydrate(s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: "wrong password!"}); !errors.Is(err, credential.ErrInvalidCredentials) {
		t.Errorf("wrong password on a disabled account: %v, want invalid credentials", err)
	}
	if _, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: goodPassword}); !errors.Is(err, user.ErrDisabled) {
		t.Errorf("right password on a disabled account: %v, want ErrDisabled", err)
	}
}

func TestRefresh_RotatesAndDetectsReuse_SE04(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	e.clock.Advance(time.Second)
	b, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken})
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if b.RefreshToken == a.RefreshToken || b.SessionID != a.SessionID {
		t.Fatalf("not rotated within the session: %+v", b)
	}
	e.clock.Advance(time.Second)
	_, err = e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken})
	if !errors.Is(err, session.ErrInvalidRefreshToken) || errs.KindOf(err) != errs.Unauthenticated {
		t.Fatalf("reuse: %v, want ErrInvalidRefreshToken", err)
	}
	if _, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: b.RefreshToken}); err == nil {
		t.Fatal("the newest token of a reused family still works")
	}
	if _, err := e.svc.Verify(t.Context(), b.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Errorf("access token of the family still verifies: %v", err)
	}
	got := e.events(t)
	if !slices.Contains(got, event.TypeUserSecurityViolation) {
		t.Errorf("no security violation in %v", got)
	}
	if v := e.payload(t, event.TypeUserSecurityViolation); v["violationType"] != "refresh_token_reuse" || v["severity"] != "high" {
		t.Errorf("violation payload = %v", v)
	}
}

func TestRefresh_ParallelLeavesOneLiveDescendant_SE05(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	e.clock.Advance(time.Second)
	var wg sync.WaitGroup
	results := make([]identity.Tokens, 20)
	errsOut := make([]error, 20)
	start := make(chan struct{})
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errsOut[i] = e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken})
		}()
	}
	close(start)
	wg.Wait()
	var live []string
	for i, err := range errsOut {
		if err == nil {
			live = append(live, results[i].RefreshToken)
		} else if !errors.Is(err, session.ErrInvalidRefreshToken) {
			t.Errorf("loser got %v, want ErrInvalidRefreshToken", err)
		}
	}
	if len(live) != 1 {
		t.Fatalf("%d descendants, want exactly 1", len(live))
	}
	e.clock.Advance(time.Second)
	if _, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: live[0]}); err != nil {
		t.Fatalf("the one descendant does not work: %v", err)
	}
}

func TestRefresh_ConcurrentWindow_SE04_SE05(t *testing.T) {
	const window = 10 * time.Millisecond
	e := newEnv(t, func(c *config) { c.Sessions.ConcurrentWindow = window })
	a := e.register(t, "ada@example.com", "ada")
	e.clock.Advance(time.Second)
	rotatedAt := e.clock.Now()
	b, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken, ReceivedAt: rotatedAt})
	if err != nil {
		t.Fatal(err)
	}
	// A request that arrived inside the window ran in parallel: it loses
	// without harming the family.
	_, err = e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken, ReceivedAt: rotatedAt.Add(window / 2)})
	if !errors.Is(err, session.ErrInvalidRefreshToken) {
		t.Fatalf("parallel loser: %v, want ErrInvalidRefreshToken", err)
	}
	if _, err := e.svc.Verify(t.Context(), b.AccessToken); err != nil {
		t.Fatalf("a parallel loser ended the session: %v", err)
	}
	// A request that arrived after the window could have seen the answer:
	// it is a replay.
	e.clock.Advance(window)
	if _, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken}); !errors.Is(err, session.ErrInvalidRefreshToken) {
		t.Fatalf("replay after the window: %v, want ErrInvalidRefreshToken", err)
	}
	if _, err := e.svc.Verify(t.Context(), b.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("a replay after the window left the session live: %v", err)
	}
}

func TestRefresh_AnswersNoSoonerThanWindow(t *testing.T) {
	const window = 30 * time.Millisecond
	e := newEnv(t, func(c *config) { c.Sessions.ConcurrentWindow = window })
	a := e.register(t, "ada@example.com", "ada")
	start := time.Now()
	if _, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken}); err != nil {
		t.Fatal(err)
	}
	// Not a timing assertion about speed: the guarantee that makes reuse
	// detection exact is a lower bound on when the answer leaves.
	if waited := time.Since(start); waited < window {
		t.Fatalf("answered after %v, before the %v window closed", waited, window)
	}
}

func TestRefresh_GraceReturnsSameSuccessor_SE04(t *testing.T) {
	e := newEnv(t, func(c *config) { c.Sessions.ReuseGrace = 10 * time.Second })
	a := e.register(t, "ada@example.com", "ada")
	e.clock.Advance(time.Second)
	b, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Second)
	c, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken})
	if err != nil {
		t.Fatalf("replay inside grace: %v", err)
	}
	if c.RefreshToken != b.RefreshToken {
		t.Fatal("replay inside grace got a new successor, want the same one")
	}
	e.clock.Advance(20 * time.Second)
	if _, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken}); !errors.Is(err, session.ErrInvalidRefreshToken) {
		t.Fatalf("replay after grace: %v, want ErrInvalidRefreshToken", err)
	}
	if _, err := e.svc.Verify(t.Context(), b.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("a replay after grace left the session live: %v", err)
	}
}

func TestRefresh_IdleAndAbsoluteLifetime_SE06(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	e.clock.Advance(policy.IdleTimeout + time.Second)
	if _, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken}); !errors.Is(err, session.ErrInvalidRefreshToken) {
		t.Fatalf("idle session refreshed: %v", err)
	}
	if v := e.payload(t, event.TypeUserLogout); v["logoutType"] != "timeout" {
		t.Errorf("logout payload = %v, want timeout", v)
	}

	e = newEnv(t)
	a = e.register(t, "ada@example.com", "ada")
	tok := a.RefreshToken
	for e.clock.Now().Before(a.User.CreatedAt().Add(policy.AbsoluteLifetime - policy.IdleTimeout)) {
		e.clock.Advance(policy.IdleTimeout - time.Hour)
		n, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: tok})
		if err != nil {
			t.Fatalf("refresh inside lifetime: %v", err)
		}
		tok = n.RefreshToken
	}
	e.clock.Advance(policy.IdleTimeout - time.Hour)
	if _, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: tok}); err == nil {
		t.Fatal("refresh slid past the absolute lifetime")
	}
}

func TestLogout_RevokesAtOnce_SE03(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	claims, err := e.svc.Verify(t.Context(), a.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Logout(t.Context(), claims, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Verify(t.Context(), a.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("verify after logout: %v, want revoked", err)
	}
	if _, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken}); err == nil {
		t.Fatal("refresh after logout worked")
	}
	if v := e.payload(t, event.TypeUserLogout); v["logoutType"] != "manual" || v["sessionId"] != string(a.SessionID) {
		t.Errorf("logout payload = %v", v)
	}
}

func TestChangePassword_EndsOtherSessions_SE08(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	other, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := e.svc.Verify(t.Context(), a.AccessToken)
	err = e.svc.ChangePassword(t.Context(), claims, "not the password", "a brand new passphrase")
	if errs.KindOf(err) != errs.Invalid {
		t.Fatalf("wrong current password: %v, want Invalid (PW-06)", err)
	}
	if err := e.svc.ChangePassword(t.Context(), claims, goodPassword, "a brand new passphrase"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Verify(t.Context(), a.AccessToken); err != nil {
		t.Errorf("the current session ended: %v", err)
	}
	if _, err := e.svc.Verify(t.Context(), other.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Errorf("another session survived: %v", err)
	}
	if _, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: goodPassword}); err == nil {
		t.Error("old password still works")
	}
	if _, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: "a brand new passphrase"}); err != nil {
		t.Errorf("new password fails: %v", err)
	}
	if v := e.payload(t, event.TypeUserPasswordChanged); v["securityLevel"] != "user" || v["changedBy"] != string(a.User.ID()) {
		t.Errorf("payload = %v", v)
	}
}

func TestUpdateMe_EmitsChanges(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	claims, _ := e.svc.Verify(t.Context(), a.AccessToken)
	name := "Ada Lovelace"
	u, err := e.svc.UpdateMe(t.Context(), claims, user.ProfileUpdate{DisplayName: &name, Preferences: user.Preferences{"theme": "dark"}})
	if err != nil {
		t.Fatal(err)
	}
	if u.DisplayName() != name || u.Preferences()["theme"] != "dark" {
		t.Fatalf("not applied: %v %v", u.DisplayName(), u.Preferences())
	}
	v := e.payload(t, event.TypeUserUpdated)
	changes, _ := v["changes"].(map[string]any)
	prev, _ := v["previousValues"].(map[string]any)
	if changes["displayName"] != name || prev["displayName"] != "ada" || v["updatedBy"] != string(a.User.ID()) {
		t.Errorf("payload = %v", v)
	}
	before := len(e.events(t))
	if _, err := e.svc.UpdateMe(t.Context(), claims, user.ProfileUpdate{DisplayName: &name}); err != nil {
		t.Fatal(err)
	}
	if len(e.events(t)) != before {
		t.Error("a no-op update emitted an event")
	}
	empty := "   "
	if _, err := e.svc.UpdateMe(t.Context(), claims, user.ProfileUpdate{DisplayName: &empty}); errs.KindOf(err) != errs.Invalid {
		t.Errorf("blank display name: %v", err)
	}
}

// The profile fields reach user.updated with their previous values, and
// clearing one is a change from it to "".
func TestUpdateMe_ProfileFieldsInEvent(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	claims, _ := e.svc.Verify(t.Context(), a.AccessToken)
	avatar, locale, zone := "https://cdn.example.com/ada.png", "en-gb", "Europe/London"
	u, err := e.svc.UpdateMe(t.Context(), claims, user.ProfileUpdate{AvatarURL: &avatar, Locale: &locale, TimeZone: &zone})
	if err != nil {
		t.Fatal(err)
	}
	if u.AvatarURL() != avatar || u.Locale() != "en-GB" || u.TimeZone() != zone {
		t.Fatalf("not applied: %+v", u.Snapshot())
	}
	v := e.payload(t, event.TypeUserUpdated)
	want := map[string]any{"avatarUrl": avatar, "locale": "en-GB", "timeZone": zone}
	if !reflect.DeepEqual(v["changes"], want) || v["updatedBy"] != string(a.User.ID()) ||
		!reflect.DeepEqual(v["previousValues"], map[string]any{"avatarUrl": "", "locale": "", "timeZone": ""}) {
		t.Errorf("payload = %v", v)
	}

	empty, paris := "", "Europe/Paris"
	if _, err := e.svc.UpdateMe(t.Context(), claims, user.ProfileUpdate{AvatarURL: &empty, TimeZone: &paris}); err != nil {
		t.Fatal(err)
	}
	v = e.payload(t, event.TypeUserUpdated)
	if !reflect.DeepEqual(v["changes"], map[string]any{"avatarUrl": "", "timeZone": paris}) ||
		!reflect.DeepEqual(v["previousValues"], map[string]any{"avatarUrl": avatar, "timeZone": zone}) {
		t.Errorf("payload = %v", v)
	}

	before := len(e.events(t))
	bad := "Local"
	if _, err := e.svc.UpdateMe(t.Context(), claims, user.ProfileUpdate{TimeZone: &bad}); errs.KindOf(err) != errs.Invalid {
		t.Errorf("time zone Local: %v", err)
	}
	if len(e.events(t)) != before {
		t.Error("a refused update emitted an event")
	}
}

func TestEnsureAdmin_NoDefaultAccounts_PW06(t *testing.T) {
	e := newEnv(t)
	created, err := e.svc.EnsureAdmin(t.Context(), "root@example.com", goodPassword)
	if err != nil || !created {
		t.Fatalf("first call: %v %v", created, err)
	}
	created, err = e.svc.EnsureAdmin(t.Context(), "root@example.com", goodPassword)
	if err != nil || created {
		t.Fatalf("second call: %v %v", created, err)
	}
	a, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "root@example.com", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	if a.User.Role() != "superadmin" {
		t.Errorf("role = %s", a.User.Role())
	}
	if _, err := newEnv(t).svc.EnsureAdmin(t.Context(), "root@example.com", "password123"); err == nil {
		t.Error("a common password was accepted for the administrator (PW-06)")
	}
}

func TestVerify_RejectsBadTokens(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	e.clock.Advance(16 * time.Minute)
	if _, err := e.svc.Verify(t.Context(), a.AccessToken); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("expired token: %v", err)
	}
	if _, err := e.svc.Verify(t.Context(), "garbage"); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("garbage: %v", err)
	}
}

func TestSessions_ListAndEnd_SE09_AC02(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "ada@example.com", "ada")
	e.clock.Advance(time.Second)
	b, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: goodPassword, Client: session.Client{IP: "198.51.100.1", UserAgent: "phone"}})
	if err != nil {
		t.Fatal(err)
	}
	mallory := e.register(t, "mallory@example.com", "mallory")
	claims, _ := e.svc.Verify(t.Context(), a.AccessToken)
	list, err := e.svc.MySessions(t.Context(), claims)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != b.SessionID || list[0].Client.UserAgent != "phone" || list[0].Current || !list[1].Current {
		t.Fatalf("sessions = %+v", list)
	}
	if err := e.svc.EndMySession(t.Context(), claims, mallory.SessionID); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("ending another user's session: %v, want not found (AC-02)", err)
	}
	if _, err := e.svc.Verify(t.Context(), mallory.AccessToken); err != nil {
		t.Fatalf("the other user's session was ended: %v", err)
	}
	if err := e.svc.EndMySession(t.Context(), claims, b.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Verify(t.Context(), b.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("ended session still verifies: %v", err)
	}
	c, _ := e.svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: goodPassword})
	n, err := e.svc.EndOtherSessions(t.Context(), claims)
	if err != nil || n != 1 {
		t.Fatalf("end others: %d %v", n, err)
	}
	if _, err := e.svc.Verify(t.Context(), c.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("another session survived sign-out-everywhere-else: %v", err)
	}
	if _, err := e.svc.Verify(t.Context(), a.AccessToken); err != nil {
		t.Fatalf("the current session ended: %v", err)
	}
}
