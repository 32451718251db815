package main_test

import (
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/pkg/usermgmt"
)

// totpCode is the code an authenticator app shows for secret, offset steps away.
func totpCode(t *testing.T, secret string, offset int64) string {
	t.Helper()
	c, err := usermgmt.TOTPCode(secret, time.Now().Add(time.Duration(offset)*30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestE2E_MFA_SurvivesRestart_MF04_MF08: an authenticator enrolled before a
// restart still signs in after it (the sealed seed opens with the key kept
// in the data directory, or the configured one on Postgres), and the
// password alone never yields tokens.
func TestE2E_MFA_SurvivesRestart_MF04_MF08(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		s := start(t, env...)
		reg := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": pw})
		if reg.status != 201 {
			t.Fatalf("register: %d %s", reg.status, reg.raw)
		}
		s.verifyAddress(t) // a second factor needs a verified address (MF-09)
		setup := s.call(t, "POST", "/v1/users/me/mfa/totp", reg.str("accessToken"), map[string]string{"password": pw})
		if setup.status != 200 {
			t.Fatalf("begin totp: %d %s", setup.status, setup.raw)
		}
		secret := setup.str("secret")
		conf := s.call(t, "POST", "/v1/users/me/mfa/totp/confirm", reg.str("accessToken"), map[string]string{"code": totpCode(t, secret, 0)})
		if conf.status != 200 || len(conf.body["backupCodes"].([]any)) != 10 {
			t.Fatalf("confirm: %d %s", conf.status, conf.raw)
		}
		s.stop(t)

		s = start(t, env...)
		login := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": pw})
		if login.status != 200 || login.body["mfaRequired"] != true || login.str("accessToken") != "" {
			t.Fatalf("login after restart: %d %s", login.status, login.raw)
		}
		if r := s.call(t, "GET", "/v1/auth/verify", login.str("mfaToken"), nil); r.status != 401 {
			t.Fatalf("the mfa token passed forward-auth: %d", r.status)
		}
		// The next step's code: the confirming code spent the current one.
		done := s.call(t, "POST", "/v1/auth/login/mfa", "", map[string]string{"mfaToken": login.str("mfaToken"), "code": totpCode(t, secret, 1)})
		if done.status != 200 || done.str("accessToken") == "" {
			t.Fatalf("login/mfa after restart: %d %s", done.status, done.raw)
		}
		if r := s.call(t, "GET", "/v1/users/me/mfa", done.str("accessToken"), nil); r.status != 200 || r.body["backupCodesRemaining"] != float64(10) {
			t.Fatalf("mfa status: %d %s", r.status, r.raw)
		}
	})
}
