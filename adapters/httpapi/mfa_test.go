package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/core/mfa"
)

// totpNow is the code an authenticator app shows for secret, offset steps away.
func totpNow(t *testing.T, secret string, offset int64) string {
	t.Helper()
	c, err := crypto.NewOTP().CodeAt(secret, time.Now().Add(time.Duration(offset)*mfa.TOTPPeriod))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMFA_OverHTTP_MF05_MF06_MF08 walks the TOTP flow over HTTP: enrol,
// confirm, sign in to a challenge, and complete it; the challenge token is
// refused as a bearer token, and the shapes of every answer are checked.
func TestMFA_OverHTTP_MF05_MF06_MF08(t *testing.T) {
	s := newServer(t)
	reg := s.register(t, "ada@example.com", "ada")
	at := reg["accessToken"].(string)
	auth := []string{"Authorization", "Bearer " + at}

	// No factor before the address is proven (MF-09).
	wantProblem(t, s.do(t, "POST", "/v1/users/me/mfa/totp", map[string]string{"password": password}, auth...), 422, "mfa.email_not_verified")
	s.verifyAddress(t, "ada@example.com")

	r := s.do(t, "POST", "/v1/users/me/mfa/totp", map[string]string{"password": "wrong password"}, auth...)
	p := wantProblem(t, r, 400, "validation_failed")
	if !strings.Contains(string(r.body), `"field":"password"`) {
		t.Errorf("problem does not name the password: %v", p)
	}
	r = s.do(t, "POST", "/v1/users/me/mfa/totp", map[string]string{"password": password}, auth...)
	if r.status != 200 {
		t.Fatalf("begin totp: %d %s", r.status, r.body)
	}
	setup := r.json(t)
	secret := setup["secret"].(string)
	if !strings.HasPrefix(setup["otpauthUrl"].(string), "otpauth://totp/") || len(secret) != 32 {
		t.Fatalf("setup = %v", setup)
	}
	// The secret is never shown again.
	st := s.do(t, "GET", "/v1/users/me/mfa", nil, auth...)
	if st.status != 200 || strings.Contains(string(st.body), secret) || st.json(t)["enabled"] != false {
		t.Fatalf("status before confirming: %d %s", st.status, st.body)
	}
	wantProblem(t, s.do(t, "POST", "/v1/users/me/mfa/backup/confirm", map[string]string{"code": "123456"}, auth...), 404, "http.not_found")
	r = s.do(t, "POST", "/v1/users/me/mfa/totp/confirm", map[string]string{"code": totpNow(t, secret, 0)}, auth...)
	if r.status != 200 {
		t.Fatalf("confirm: %d %s", r.status, r.body)
	}
	en := r.json(t)
	codes := en["backupCodes"].([]any)
	if len(codes) != 10 || en["accessToken"] == "" || en["method"] != "totp" {
		t.Fatalf("confirm = %v", en)
	}
	aal2 := []string{"Authorization", "Bearer " + en["accessToken"].(string)}
	if me := s.do(t, "GET", "/v1/users/me", nil, aal2...); me.status != 200 || me.json(t)["mfaEnabled"] != true {
		t.Fatalf("me: %d %s", me.status, me.body)
	}

	r = s.do(t, "POST", "/v1/auth/login", map[string]string{"identifier": "ada", "password": password})
	ch := r.json(t)
	if r.status != 200 || ch["mfaRequired"] != true || ch["accessToken"] != nil || ch["user"] != nil || ch["expiresIn"] != float64(300) {
		t.Fatalf("login of an MFA account: %d %s", r.status, r.body)
	}
	mfaToken := ch["mfaToken"].(string)
	if v := s.do(t, "GET", "/v1/auth/verify", nil, "Authorization", "Bearer "+mfaToken); v.status != 401 {
		t.Errorf("the mfa token as a bearer token: %d", v.status)
	}
	wantProblem(t, s.do(t, "POST", "/v1/auth/login/mfa", map[string]any{"mfaToken": mfaToken, "code": "123456", "extra": 1}), 400, "http.malformed_json")
	wantProblem(t, s.do(t, "POST", "/v1/auth/login/mfa", map[string]string{"mfaToken": mfaToken, "code": "12345", "method": "carrier-pigeon"}), 400, "validation_failed")
	wantProblem(t, s.do(t, "POST", "/v1/auth/login/mfa/send", map[string]string{"mfaToken": mfaToken, "method": "email"}), 422, "mfa.method_unavailable")
	r = s.do(t, "POST", "/v1/auth/login/mfa", map[string]string{"mfaToken": mfaToken, "code": codes[0].(string), "method": "backup"})
	if r.status != 200 {
		t.Fatalf("login/mfa with a backup code: %d %s", r.status, r.body)
	}
	if done := r.json(t); done["accessToken"] == "" || done["refreshToken"] == "" || done["user"].(map[string]any)["mfaEnabled"] != true {
		t.Fatalf("login/mfa = %v", done)
	}
	wantProblem(t, s.do(t, "POST", "/v1/auth/login/mfa", map[string]string{"mfaToken": mfaToken, "code": codes[1].(string)}), 401, "mfa.invalid_challenge")

	// Five wrong codes end a challenge (MF-06).
	mfaToken = s.do(t, "POST", "/v1/auth/login", map[string]string{"identifier": "ada", "password": password}).json(t)["mfaToken"].(string)
	for i := range mfa.MaxAttempts {
		want := "mfa.invalid_code"
		if i == mfa.MaxAttempts-1 {
			want = "mfa.invalid_challenge"
		}
		wantProblem(t, s.do(t, "POST", "/v1/auth/login/mfa", map[string]string{"mfaToken": mfaToken, "code": "0000-0000-0000-0000-0000-0000"}), 401, want)
	}

	// Disabling needs a current factor (MF-05).
	r = s.do(t, "POST", "/v1/users/me/mfa/totp/disable", map[string]string{"password": password}, aal2...)
	if wantProblem(t, r, 400, "validation_failed"); !strings.Contains(string(r.body), `"field":"code"`) {
		t.Errorf("problem does not ask for a code: %s", r.body)
	}
	if r := s.do(t, "POST", "/v1/users/me/mfa/totp/disable", map[string]string{"password": password, "code": codes[2].(string)}, aal2...); r.status != 204 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if r := s.do(t, "POST", "/v1/auth/login", map[string]string{"identifier": "ada", "password": password}); r.json(t)["accessToken"] == nil {
		t.Errorf("login after disabling MFA: %s", r.body)
	}
}

// TestMFA_MethodNames: a method the domain does not know is a 400 naming
// the field; one it knows but the route does not take is the use case's
// refusal, never a 500.
func TestMFA_MethodNames(t *testing.T) {
	s := newServer(t)
	at := s.register(t, "ada@example.com", "ada")["accessToken"].(string)
	tok := strings.Repeat("A", 43)
	for _, r := range []response{
		s.do(t, "POST", "/v1/auth/login/mfa/send", map[string]string{"mfaToken": tok, "method": "carrier-pigeon"}),
		s.do(t, "POST", "/v1/auth/login/mfa", map[string]string{"mfaToken": tok, "code": "123456", "method": "TOTP"}),
		s.do(t, "POST", "/v1/users/me/mfa/reauth-code", map[string]string{"method": "fax"}, "Authorization", "Bearer "+at),
	} {
		wantProblem(t, r, 400, "validation_failed")
		if !strings.Contains(string(r.body), `"field":"method"`) {
			t.Errorf("the problem does not name the method: %s", r.body)
		}
	}
	r := s.do(t, "POST", "/v1/users/me/mfa/reauth-code", map[string]string{"method": "totp"}, "Authorization", "Bearer "+at)
	if r.status < 400 || r.status >= 500 {
		t.Fatalf("a reauth code by TOTP: %d %s", r.status, r.body)
	}
}
