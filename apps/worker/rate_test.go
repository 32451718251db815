package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestWorkerImportRate measures `users import` of USERMGMT_IMPORT_RATE
// generated accounts (100000 for the goal) on SQLite and Postgres,
// then the re-run that changes nothing and the export. It only reports:
// timings depend on the machine.
//
//	USERMGMT_IMPORT_RATE=100000 go test ./worker -run ImportRate -v
func TestWorkerImportRate(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("USERMGMT_IMPORT_RATE"))
	if n <= 0 {
		t.Skip("set USERMGMT_IMPORT_RATE to the number of accounts to import")
	}
	file := filepath.Join(t.TempDir(), "users.jsonl")
	writeGenerated(t, file, n)
	backends(t, func(t *testing.T, b *backend) {
		timed := func(what string, args ...string) {
			start := time.Now()
			out, errs, err := b.run(t, "", args...)
			if err != nil {
				t.Fatalf("%s: %v\n%s%s", what, err, out, errs)
			}
			d := time.Since(start)
			t.Logf("%s: %d accounts in %v (%.0f/s)", what, n, d.Round(time.Millisecond), float64(n)/d.Seconds())
		}
		timed("import", "users", "import", file)
		timed("import again (all unchanged)", "users", "import", file)
		timed("export", "users", "export", filepath.Join(t.TempDir(), "out.jsonl"))
		if got := b.count(t, "SELECT count(*) FROM users"); got != n {
			t.Fatalf("%d accounts, want %d", got, n)
		}
	})
}

// writeGenerated writes n accounts: half with bcrypt hashes, half argon2id,
// a third with ids of their own.
func writeGenerated(t *testing.T, file string, n int) {
	t.Helper()
	f, err := os.Create(file) //nolint:gosec // the test's own temporary file
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	argon2 := argon2Hash(t, "generated password")
	created := time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		r := map[string]string{"email": fmt.Sprintf("user%d@example.com", i), "username": fmt.Sprintf("user%d", i),
			"displayName": fmt.Sprintf("User %d", i), "role": "user", "passwordHash": bcryptABC,
			"createdAt": created.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)}
		if i%2 == 1 {
			r["passwordHash"] = argon2
		}
		if i%3 == 0 {
			r["id"] = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		}
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
