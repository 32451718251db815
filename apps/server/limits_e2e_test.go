package main_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/valkey/valkeytest"
)

// TestE2E_LimitsHoldAcrossInstances_LG03: two servers share Postgres and
// Valkey; guesses spread over both spend one budget, and the refusal is a
// 429 problem with Retry-After.
func TestE2E_LimitsHoldAcrossInstances_LG03(t *testing.T) {
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
	// Ten failures in a row go at full speed, wherever they land; then
	// each attempt waits a delay that both instances see in Valkey.
	for i := range 11 {
		s := []*proc{a, b}[i%2]
		if r := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": "wrong password"}); r.status != 401 {
			t.Fatalf("guess %d: %d %s", i+1, r.status, r.raw)
		}
	}
	// Guess 11 went to instance a and opened the delay; b refuses even the
	// right password inside it.
	r := b.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": pw})
	if r.status != 429 || r.header.Get("Retry-After") == "" || r.str("type") != "urn:usermgmt:problem:auth.too_many_attempts" {
		t.Fatalf("an attempt inside the delay on the other instance: %d %v %s", r.status, r.header.Get("Retry-After"), r.raw)
	}
	wait, _ := strconv.Atoi(r.header.Get("Retry-After"))
	time.Sleep(time.Duration(wait)*time.Second + 100*time.Millisecond) // the delay's own window, not a timing check
	if r := a.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": pw}); r.status != 200 {
		t.Fatalf("the right password after the delay: %d %s", r.status, r.raw)
	}
}
