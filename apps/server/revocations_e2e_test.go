package main_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/valkey/valkeytest"
)

// TestE2E_RevocationReachesEveryInstanceAtOnce_SE03: two servers share
// Postgres and Valkey; a session ended on one fails the very next verify
// on the other, although that one had just verified the token (and cached
// that its session was live): no wait for the once-a-second database sync.
func TestE2E_RevocationReachesEveryInstanceAtOnce_SE03(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode skips Postgres and Valkey")
	}
	env := append(postgresEnv(t),
		"USERMGMT_VALKEY_ADDR="+valkeytest.Addr(), "USERMGMT_VALKEY_PREFIX=e2e-"+strconv.FormatInt(time.Now().UnixNano(), 36)+":")
	a := start(t, env...)
	b := start(t, env...)
	if r := a.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": pw}); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	for i := range 5 {
		login := a.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": pw})
		if login.status != 200 {
			t.Fatalf("login %d: %d %s", i, login.status, login.raw)
		}
		at := login.str("accessToken")
		for range 2 {
			if r := b.call(t, "GET", "/v1/auth/verify", at, nil); r.status != 200 {
				t.Fatalf("verify on the other instance before logout: %d %s", r.status, r.raw)
			}
		}
		if r := a.call(t, "POST", "/v1/auth/logout", at, nil); r.status != 204 {
			t.Fatalf("logout: %d %s", r.status, r.raw)
		}
		if r := b.call(t, "GET", "/v1/auth/verify", at, nil); r.status != 401 {
			t.Fatalf("session %d: verify on the other instance right after logout: %d, want 401 at once", i, r.status)
		}
		if r := a.call(t, "GET", "/v1/auth/verify", at, nil); r.status != 401 {
			t.Fatalf("session %d: verify on the instance that logged out: %d", i, r.status)
		}
	}
}
