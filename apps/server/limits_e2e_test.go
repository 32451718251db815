package main_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/sqlstore/sqlstoretest"
)

// TestE2E_LimitsHoldAcrossInstances_LG03: two servers share Postgres and
// Valkey; guesses spread over both spend one budget, and the refusal is a
// 429 problem with Retry-After.
func TestE2E_LimitsHoldAcrossInstances_LG03(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode skips Postgres and Valkey")
	}
	env := []string{"USERMGMT_DATABASE_URL=" + sqlstoretest.PostgresURL(t), "USERMGMT_AUTO_MIGRATE=on",
		"USERMGMT_VALKEY_ADDR=" + valkeyAddr(), "USERMGMT_VALKEY_PREFIX=e2e-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"}
	a := start(t, env...)
	b := start(t, env...)
	if r := a.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": pw}); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	// The account+IP budget is 20 attempts a minute, wherever they land.
	for i := range 20 {
		s := []*proc{a, b}[i%2]
		if r := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": "wrong password"}); r.status != 401 {
			t.Fatalf("guess %d: %d %s", i+1, r.status, r.raw)
		}
	}
	r := b.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": pw})
	if r.status != 429 || r.header.Get("Retry-After") == "" || r.str("type") != "urn:usermgmt:problem:auth.too_many_attempts" {
		t.Fatalf("21st attempt on the other instance: %d %v %s", r.status, r.header.Get("Retry-After"), r.raw)
	}
}
