package main_test

import (
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
	s.stop(t)
	logs := s.logs.String()
	if !strings.Contains(logs, "refresh token reuse") {
		t.Fatalf("the logs lack the expected lines; is debug logging on?\n%s", logs)
	}
	for _, secret := range secrets {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("a secret reached the logs: %.12s…", secret)
		}
	}
}
