package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/usermgmt/usermgmt/adapters/crypto"
)

// importCount is the size of the import the goal speaks of: 100,000
// accounts in under a minute.
const importCount = 100_000

// runImport times `bin/worker users import` of a generated file of
// importCount accounts (half bcrypt, half argon2id, a third with ids of
// their own) into a fresh SQLite store and, when it is reachable, a fresh
// Postgres database; then the re-run, which changes nothing.
func runImport(ctx context.Context, opt options, rep *report) error {
	worker := filepath.Join(filepath.Dir(opt.server), "worker")
	if _, err := os.Stat(worker); err != nil {
		return fmt.Errorf("import: %w (make build builds bin/worker beside bin/server)", err)
	}
	dir, err := os.MkdirTemp("", "usermgmt-bench-import-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "users.jsonl")
	progress(fmt.Sprintf("writing %d accounts to import", importCount))
	if err := writeImportFile(ctx, file, importCount); err != nil {
		return err
	}
	targets := []struct {
		name string
		env  []string
	}{{"SQLite", []string{"USERMGMT_DATA_DIR=" + filepath.Join(dir, "data")}}}
	if admin, err := openPostgres(ctx, opt.postgres); err == nil {
		defer admin.Close()
		dbURL, drop, err := scratchDatabase(ctx, admin, opt.postgres, fmt.Sprintf("usermgmt_bench_import_%d", os.Getpid()))
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer drop()
		targets = append(targets, struct {
			name string
			env  []string
		}{"Postgres",
			[]string{"USERMGMT_DATABASE_URL=" + dbURL, "USERMGMT_AUTO_MIGRATE=on", benchEncryptionKey, "USERMGMT_DATA_DIR=" + filepath.Join(dir, "pgdata")}})
	} else {
		rep.skip("import on Postgres", "Postgres unreachable")
	}
	fmt.Fprintf(stdout, "\nImport of %d accounts with bin/worker users import\n", importCount)
	for _, tg := range targets {
		for _, pass := range []string{"import", "re-run (all unchanged)"} {
			progress(fmt.Sprintf("%s on %s", pass, tg.name))
			start := time.Now()
			cmd := exec.CommandContext(ctx, worker, "users", "import", file)
			cmd.Env = append(benchEnv(0), tg.env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("import on %s: %w\n%s", tg.name, err, tail(out))
			}
			d := time.Since(start)
			rate := float64(importCount) / d.Seconds()
			fmt.Fprintf(stdout, "  %-8s %-24s %8s  %7.0f accounts/s\n", tg.name, pass, d.Round(100*time.Millisecond), rate)
			if pass == "import" {
				rep.atLeast("import accounts/s on "+tg.name, rate, importCount/60.0, "%.0f",
					fmt.Sprintf("%d accounts in %s (goal: under a minute)", importCount, d.Round(100*time.Millisecond)))
			}
		}
	}
	return nil
}

// writeImportFile writes n accounts as JSON lines.
func writeImportFile(ctx context.Context, file string, n int) error {
	h, err := crypto.NewArgon2Hasher(crypto.Argon2Params{MemoryKiB: argonMemoryKiB, Iterations: argonIterations,
		Parallelism: argonParallelism, SaltLen: 16, KeyLen: 32})
	if err != nil {
		return err
	}
	argon, err := h.Hash(ctx, "imported account passphrase")
	if err != nil {
		return err
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("imported account passphrase"), 10)
	if err != nil {
		return err
	}
	f, err := os.Create(file) //nolint:gosec // the bench's own temporary file
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	created := time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		r := map[string]string{"email": fmt.Sprintf("imported%d@example.com", i), "username": fmt.Sprintf("imported%d", i),
			"displayName": fmt.Sprintf("Imported %d", i), "role": "user", "passwordHash": string(bc),
			"createdAt": created.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)}
		if i%2 == 1 {
			r["passwordHash"] = string(argon)
		}
		if i%3 == 0 {
			r["id"] = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		}
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// tail is the end of a command's output, for an error message.
func tail(out []byte) string {
	s := strings.TrimSpace(string(out))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}
