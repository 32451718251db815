package main_test

import (
	"regexp"
	"strings"
	"testing"
)

// TestE2E_SecretsNeverReachLogs_LO02 runs the account flows at debug level
// with planted canaries (a password, the tokens the server hands out, an
// Authorization header) and searches everything the server wrote for them.
func TestE2E_SecretsNeverReachLogs_LO02(t *testing.T) {
	s := start(t, "USERMGMT_DATA_DIR="+t.TempDir(), "USERMGMT_LOG_LEVEL=debug")
	const canary = "canary-Password-7f3a91 quiet"
	reg := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": canary})
	if reg.status != 201 {
		t.Fatalf("register: %d %s", reg.status, reg.raw)
	}
	secrets := []string{canary, reg.str("accessToken"), reg.str("refreshToken")}
	login := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": canary})
	_ = s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": canary + "-wrong"})
	secrets = append(secrets, login.str("accessToken"), login.str("refreshToken"), canary+"-wrong")
	next := s.call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": login.str("refreshToken")})
	secrets = append(secrets, next.str("refreshToken"), next.str("accessToken"))
	_ = s.call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": login.str("refreshToken")}) // reuse: logged as a violation
	_ = s.call(t, "GET", "/v1/auth/verify", "Bearer-not-a-token", nil)
	_ = s.call(t, "POST", "/v1/auth/password/change", reg.str("accessToken"), map[string]string{"currentPassword": canary, "newPassword": canary + " renewed"})
	secrets = append(secrets, canary+" renewed")

	// Second factors: the TOTP seed and its URI, codes, backup codes and
	// challenge tokens, including a replayed code that is logged as such.
	renewed := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": canary + " renewed"})
	s.verifyAddress(t) // a second factor needs a verified address (MF-09)
	setup := s.call(t, "POST", "/v1/users/me/mfa/totp", renewed.str("accessToken"), map[string]string{"password": canary + " renewed"})
	code := totpCode(t, setup.str("secret"), 0)
	conf := s.call(t, "POST", "/v1/users/me/mfa/totp/confirm", renewed.str("accessToken"), map[string]string{"code": code})
	if conf.status != 200 {
		t.Fatalf("confirm: %d %s", conf.status, conf.raw)
	}
	secrets = append(secrets, setup.str("secret"), setup.str("otpauthUrl"), conf.str("accessToken"), conf.str("refreshToken"))
	for _, c := range conf.body["backupCodes"].([]any) {
		secrets = append(secrets, c.(string))
	}
	next1 := totpCode(t, setup.str("secret"), 1)
	for _, answer := range []string{"000000", next1, next1} { // wrong, right, replayed on a fresh challenge
		ch := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": canary + " renewed"})
		done := s.call(t, "POST", "/v1/auth/login/mfa", "", map[string]string{"mfaToken": ch.str("mfaToken"), "code": answer})
		secrets = append(secrets, ch.str("mfaToken"), done.str("accessToken"), done.str("refreshToken"))
	}
	codes := []string{code, next1}
	s.stop(t)
	logs := s.logs.String()
	if !strings.Contains(logs, "refresh token reuse") || !strings.Contains(logs, "spent second-factor code") {
		t.Fatalf("the logs lack the expected lines; is debug logging on?\n%s", logs)
	}
	for _, secret := range secrets {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("a secret reached the logs: %.12s…", secret)
		}
	}
	// Six digits can occur inside a timestamp by chance: a code counts only
	// as a number of its own.
	for _, c := range codes {
		if regexp.MustCompile(`(^|[^0-9A-Za-z.])` + c + `([^0-9A-Za-z]|$)`).MatchString(logs) {
			t.Errorf("a TOTP code reached the logs: %s", c)
		}
	}
}
