package main_test

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// vmHWM reads a process's peak resident memory in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestE2E_LoginFloodStaysInMemoryBudget_PW08: 200 concurrent logins with
// 64 MiB argon2 cost. The hasher runs one hash per core in a reused work
// area, so the server's peak memory grows by about cores x 64 MiB however
// many logins arrive, and what cannot be served in time gets 503 or 429,
// never a crash.
func TestE2E_LoginFloodStaysInMemoryBudget_PW08(t *testing.T) {
	s := start(t, "USERMGMT_DATA_DIR="+t.TempDir(), "USERMGMT_ARGON2_MEMORY_KIB=65536", "USERMGMT_ARGON2_ITERATIONS=1",
		"USERMGMT_RATE_LIMIT=off", "USERMGMT_HASH_CONCURRENCY=2")
	if r := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": pw}); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	before := vmHWM(t, s.cmd.Process.Pid)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 200 {
		wg.Go(func() {
			r := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": pw})
			mu.Lock()
			codes[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	peak := vmHWM(t, s.cmd.Process.Pid)
	for code := range codes {
		if code != 200 && code != 503 && code != 429 {
			t.Errorf("unexpected status %d in %v", code, codes)
		}
	}
	if codes[200] == 0 {
		t.Fatalf("no login succeeded: %v", codes)
	}
	// Budget: two hashing slots of 64 MiB, plus half again for everything
	// else the flood allocates (200 connections, requests, responses).
	const budget = 3 * 64 << 20
	if growth := peak - before; growth > budget {
		t.Fatalf("peak memory grew by %d MiB under the flood (statuses %v), budget %d MiB", growth>>20, codes, budget>>20)
	}
	t.Logf("statuses %v; peak memory grew by %d MiB", codes, (peak-before)>>20)
	if r := s.call(t, "GET", "/healthz", "", nil); r.status != 200 {
		t.Fatalf("server unhealthy after the flood: %d", r.status)
	}
}
