package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/adapters/sqlstore"
)

// adminDatabase keeps the seeded directory between runs: seeding a million
// accounts takes minutes the first time and seconds after (it skips what
// is there).
const adminDatabase = "usermgmt_bench_admin"

// runAdmin measures the administrators' account search on Postgres at
// opt.adminUsers accounts: a default page, a text search, a filtered page,
// an email-ordered page and deep keyset pages, each at opt.workers
// concurrent administrators.
func runAdmin(ctx context.Context, opt options, rep *report) error {
	admin, err := openPostgres(ctx, opt.postgres)
	if err != nil {
		fmt.Fprintf(stdout, "\nAdmin search: skipped, %s is unreachable (%v)\n", redact(opt.postgres), err)
		rep.skip("admin search", "Postgres unreachable")
		return nil
	}
	defer admin.Close()
	var exists bool
	if err := admin.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", adminDatabase).Scan(&exists); err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if !exists {
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+adminDatabase); err != nil {
			return fmt.Errorf("admin: %w", err)
		}
	}
	dbURL, err := withDatabase(opt.postgres, adminDatabase)
	if err != nil {
		return err
	}
	if err := seedDirectory(ctx, dbURL, opt.adminUsers); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "usermgmt-bench-admin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	progress("starting the server on the seeded directory")
	srv, err := startServer(ctx, "admin", opt.server, filepath.Join(dir, "server.log"),
		[]string{"USERMGMT_DATABASE_URL=" + dbURL, "USERMGMT_AUTO_MIGRATE=on", "USERMGMT_DATA_DIR=" + filepath.Join(dir, "data"),
			benchEncryptionKey, "USERMGMT_ADMIN_EMAIL=bench-root@example.com", "USERMGMT_ADMIN_PASSWORD=" + benchAdminPassword})
	if err != nil {
		return err
	}
	defer srv.stop()
	c := newClient(srv.base, opt.workers)
	var login struct {
		AccessToken string `json:"accessToken"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/auth/login", "",
		map[string]string{"identifier": "bench-root@example.com", "password": benchAdminPassword}, http.StatusOK, &login); err != nil {
		return fmt.Errorf("admin: sign in: %w", err)
	}
	search := func(query string) op {
		return func(ctx context.Context, _, _ int) (int, error) {
			return c.do(ctx, http.MethodGet, "/v1/admin/users?"+query, login.AccessToken, nil, http.StatusOK, nil)
		}
	}
	kinds := []struct{ name, query string }{
		{"default page (newest first)", "limit=20"},
		{"text: a last name (q=lovelace)", "q=lovelace&limit=20"},
		{"text: an address fragment (q=mail.test)", "q=mail.test&limit=20"},
		{"filter: support, active, by email", "role=support&status=active&sort=email&limit=50"},
		{"filter: never signed in before a date", "lastLoginBefore=2024-01-01T00:00:00Z&sort=lastLoginAt&limit=20"},
	}
	var rows []row
	for _, k := range kinds {
		progress("measuring admin search: " + k.name)
		l := load{workers: opt.workers, dur: opt.duration, want: http.StatusOK}
		ss, err := interleave(ctx, opt.blocks, func() (sample, error) { return drive(ctx, l, srv.cpu, search(k.query)) })
		if err != nil {
			return err
		}
		s := merge(ss[0])
		rows = append(rows, row{name: k.name, workers: opt.workers, s: s})
		rep.below("p99 admin search at "+humanCount(opt.adminUsers)+": "+k.name, s.pct(99), 50*time.Millisecond,
			fmt.Sprintf("%d concurrent administrators", opt.workers))
	}
	deep, err := deepPages(ctx, c, login.AccessToken, opt)
	if err != nil {
		return err
	}
	rows = append(rows, row{name: "keyset pages 1-200 (sort=email)", workers: opt.workers, s: deep, note: "each worker follows its own cursor"})
	rep.below("p99 admin search at "+humanCount(opt.adminUsers)+": keyset pages 1-200", deep.pct(99), 50*time.Millisecond,
		fmt.Sprintf("%d concurrent administrators", opt.workers))
	printTable(stdout, fmt.Sprintf("Admin search on Postgres at %s accounts (%d blocks × %s)", humanCount(opt.adminUsers), opt.blocks, opt.duration), rows)
	return nil
}

// benchAdminPassword signs the bench's administrator in (a test value).
const benchAdminPassword = "bench administrator passphrase 2026"

// seedDirectory makes sure the database holds n seed accounts.
func seedDirectory(ctx context.Context, dbURL string, n int) error {
	db, err := sqlstore.Open(ctx, sqlstore.Config{URL: dbURL})
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return fmt.Errorf("admin: migrate: %w", err)
	}
	hasher, err := crypto.NewArgon2Hasher(crypto.Argon2Params{MemoryKiB: argonMemoryKiB, Iterations: argonIterations,
		Parallelism: argonParallelism, SaltLen: 16, KeyLen: 32})
	if err != nil {
		return err
	}
	hash, err := hasher.Hash(ctx, "seed account passphrase 2026")
	if err != nil {
		return err
	}
	start := time.Now()
	last := time.Now()
	progress(fmt.Sprintf("seeding %s accounts (kept between runs)", humanCount(n)))
	err = sqlstore.SeedUsers(ctx, db, n, string(hash), func(done int) {
		if time.Since(last) > 5*time.Second {
			last = time.Now()
			progress(fmt.Sprintf("  %s of %s", humanCount(done), humanCount(n)))
		}
	})
	if err != nil {
		return fmt.Errorf("admin: seed: %w", err)
	}
	progress(fmt.Sprintf("seeded in %s", time.Since(start).Round(time.Second)))
	return nil
}

// deepPages has each worker page through the email order with its
// cursor, up to 200 pages, timing every page.
func deepPages(ctx context.Context, c *client, bearer string, opt options) (sample, error) {
	var (
		mu      sync.Mutex
		cursors = make([]string, opt.workers)
		pages   = make([]int, opt.workers)
	)
	l := load{workers: opt.workers, dur: opt.duration * time.Duration(opt.blocks), want: http.StatusOK}
	return drive(ctx, l, selfCPU, func(ctx context.Context, w, _ int) (int, error) {
		mu.Lock()
		cur := cursors[w]
		if pages[w] >= 200 {
			cur, pages[w] = "", 0
		}
		mu.Unlock()
		q := "sort=email&limit=20"
		if cur != "" {
			q += "&cursor=" + url.QueryEscape(cur)
		}
		var page struct {
			NextCursor string `json:"nextCursor"`
		}
		st, err := c.do(ctx, http.MethodGet, "/v1/admin/users?"+q, bearer, nil, http.StatusOK, &page)
		mu.Lock()
		cursors[w] = page.NextCursor
		pages[w]++
		mu.Unlock()
		return st, err
	})
}

func humanCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
