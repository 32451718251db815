package main_test

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestE2E_WorkerKeysRotateNow_SE12: `worker keys rotate --now` beside a
// running server: the access tokens it issued before fail within one key
// refresh interval (10s), and new sign-ins get tokens that verify.
func TestE2E_WorkerKeysRotateNow_SE12(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		s := start(t, env...)
		reg := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": pw})
		if reg.status != 201 {
			t.Fatalf("register: %d %s", reg.status, reg.raw)
		}
		before := reg.str("accessToken")
		if r := s.call(t, "GET", "/v1/auth/verify", before, nil); r.status != 200 {
			t.Fatalf("verify: %d %s", r.status, r.raw)
		}

		cmd := exec.Command(workerBinary(t), "keys", "rotate", "--now")
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("worker keys rotate --now: %v\n%s", err, out)
		}

		deadline := time.Now().Add(15 * time.Second) // the refresh interval and slack
		for s.call(t, "GET", "/v1/auth/verify", before, nil).status != 401 {
			if time.Now().After(deadline) {
				t.Fatal("a token of the retired key still verifies one refresh interval after keys rotate --now")
			}
			time.Sleep(200 * time.Millisecond)
		}
		login := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": pw})
		if login.status != 200 {
			t.Fatalf("login: %d %s", login.status, login.raw)
		}
		if r := s.call(t, "GET", "/v1/auth/verify", login.str("accessToken"), nil); r.status != 200 {
			t.Fatalf("a token of the new key: %d %s", r.status, r.raw)
		}
	})
}
