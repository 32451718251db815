package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/adapters/sqlstore"
	"github.com/usermgmt/usermgmt/adapters/sqlstore/sqlstoretest"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/pkg/usermgmt"
)

// backend is a database the worker's commands run against.
type backend struct {
	env   map[string]string
	store sqlstore.Config
	pg    bool
}

// backends runs fn against a fresh SQLite database and a fresh Postgres
// one, as the worker is configured for each.
func backends(t *testing.T, fn func(t *testing.T, b *backend)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		fn(t, &backend{env: map[string]string{"USERMGMT_DATA_DIR": dir, "USERMGMT_ENCRYPTION_KEY": testEncryptionKey,
			"USERMGMT_LOG_LEVEL": "error"}, store: sqlstore.Config{SQLitePath: filepath.Join(dir, "usermgmt.db")}})
	})
	t.Run("postgres", func(t *testing.T) {
		url := sqlstoretest.PostgresURL(t)
		fn(t, &backend{env: map[string]string{"USERMGMT_DATABASE_URL": url, "USERMGMT_AUTO_MIGRATE": "on",
			"USERMGMT_DATA_DIR": t.TempDir(), "USERMGMT_ENCRYPTION_KEY": testEncryptionKey, "USERMGMT_LOG_LEVEL": "error"},
			store: sqlstore.Config{URL: url}, pg: true})
	})
}

func (b *backend) getenv(k string) string { return b.env[k] }

// run runs the worker with stdin, and returns what it wrote.
func (b *backend) run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errs bytes.Buffer
	err = run(t.Context(), args, b.getenv, console{in: strings.NewReader(stdin), out: &out, err: &errs})
	return out.String(), errs.String(), err
}

// must runs the worker and fails t unless it succeeds.
func (b *backend) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, err := b.run(t, "", args...)
	if err != nil {
		t.Fatalf("worker %s: %v\n%s", strings.Join(args, " "), err, errs)
	}
	return out
}

// service opens the service over the backend; t.Cleanup closes it.
func (b *backend) service(t *testing.T) *usermgmt.Service {
	t.Helper()
	cfg, err := usermgmt.FromEnv(b.getenv)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := usermgmt.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

// exec runs statements past the store, in one transaction; on SQLite the
// audit triggers are dropped first, on Postgres switched off, so the
// statements can do what only someone with the database's keys could.
func (b *backend) exec(t *testing.T, stmts ...string) {
	t.Helper()
	raw := sqlstoretest.Raw(t, b.store)
	tx, err := raw.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if b.pg {
		stmts = append([]string{"SET LOCAL session_replication_role = replica"}, stmts...)
	} else {
		stmts = append([]string{"DROP TRIGGER IF EXISTS audit_log_no_update"}, stmts...)
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	_ = raw.Close()
}

// count returns the single number query selects.
func (b *backend) count(t *testing.T, query string) int {
	t.Helper()
	raw := sqlstoretest.Raw(t, b.store)
	defer func() { _ = raw.Close() }()
	var n int
	if err := raw.QueryRowContext(t.Context(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// passwordHash reads the stored hash of uid.
func (b *backend) passwordHash(t *testing.T, uid string) string {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), b.store)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	h, err := sqlstore.NewCredentials(db).PasswordHash(t.Context(), user.ID(uid))
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// exported runs `users export` into a file and returns its records.
func (b *backend) exported(t *testing.T) []map[string]any {
	t.Helper()
	file := filepath.Join(t.TempDir(), "users.jsonl")
	b.must(t, "users", "export", file)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if fi, err := f.Stat(); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the export is mode %v (%v), want 0600", fi.Mode(), err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// Hashes as other systems store them: jBCrypt's test vector for "abc" in
// the $2b$ form of Node.js, and PHP's password_hash example ($2y$).
const (
	bcryptABC    = "$2b$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i"
	bcryptRasmus = "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"
	adaID        = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
	rasmusID     = "0190a5b4-8c3e-7d2a-9f10-1234567890ab"
	gracePW      = "correct horse battery staple"
)

func argon2Hash(t *testing.T, password string) string {
	t.Helper()
	h, err := crypto.NewArgon2Hasher(crypto.DefaultArgon2Params())
	if err != nil {
		t.Fatal(err)
	}
	ph, err := h.Hash(t.Context(), password)
	if err != nil {
		t.Fatal(err)
	}
	return string(ph)
}

// importFiles writes a JSON lines file and a CSV file with every kind of
// record: new ones with and without ids in each hash format, a line that
// is not JSON, a duplicate, a conflict, a hash of another format, a bad
// email, and an account both files name.
func importFiles(t *testing.T) (jsonl, csv string) {
	t.Helper()
	dir := t.TempDir()
	grace := argon2Hash(t, gracePW)
	line := func(m map[string]string) string {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ada := map[string]string{"id": adaID, "email": "ada@example.com", "username": "ada", "displayName": "Ada Lovelace",
		"role": "admin", "passwordHash": bcryptABC, "createdAt": "2020-01-02T03:04:05Z"}
	lines := []string{
		line(ada),
		line(map[string]string{"email": "Grace@Example.com", "username": "grace", "displayName": "Grace Hopper", "role": "user",
			"passwordHash": grace, "createdAt": "2020-02-03T04:05:06.789Z"}),
		`{"email": "broken"`,
		line(ada),
		line(map[string]string{"email": "ada@example.com", "username": "ada2", "displayName": "", "role": "",
			"passwordHash": bcryptABC, "createdAt": "2020-01-02T03:04:05Z"}),
		line(map[string]string{"email": "md5@example.com", "username": "md5", "displayName": "", "role": "",
			"passwordHash": "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "createdAt": "2020-01-02T03:04:05Z"}),
	}
	jsonl = filepath.Join(dir, "users.jsonl")
	if err := os.WriteFile(jsonl, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	csv = filepath.Join(dir, "users.csv")
	rows := "email,username,displayName,role,passwordHash,createdAt,id\n" +
		"rasmus@example.com,rasmus,\"Lerdorf, Rasmus\",support," + bcryptRasmus + ",2019-06-07T08:09:10Z," + rasmusID + "\n" +
		"not-an-email,someone,,user," + bcryptABC + ",2019-06-07T08:09:10Z,\n" +
		// argon2's commas are quoted, as any CSV writer does
		"grace@example.com,grace,Grace Hopper,user,\"" + grace + "\",2020-02-03T04:05:06.789Z,\n"
	if err := os.WriteFile(csv, []byte(rows), 0o600); err != nil {
		t.Fatal(err)
	}
	return jsonl, csv
}

// TestWorkerUsersImport: a mixed file imports what it can and reports
// each bad line by number, without echoing a hash; a dry run writes
// nothing; a second run changes nothing; the accounts keep their ids and
// creation times, export as they were imported, and sign in with their
// old passwords, a bcrypt hash becoming argon2id at the first sign-in.
func TestWorkerUsersImport(t *testing.T) {
	backends(t, func(t *testing.T, b *backend) {
		jsonl, csv := importFiles(t)

		out, errs, err := b.run(t, "", "users", "import", "--dry-run", jsonl)
		if err == nil || !strings.Contains(out, "2 would be created (dry run: nothing was written), 1 unchanged, 3 failed") {
			t.Fatalf("dry run: %v\n%s%s", err, out, errs)
		}
		if n := len(b.exported(t)); n != 0 {
			t.Fatalf("the dry run wrote %d accounts", n)
		}
		if n := b.count(t, "SELECT count(*) FROM outbox"); n != 0 {
			t.Fatalf("the dry run wrote %d events", n)
		}

		out, errs, err = b.run(t, "", "users", "import", jsonl)
		if err == nil || !strings.Contains(err.Error(), "3 records failed") || !strings.Contains(out, "2 created, 1 unchanged, 3 failed") {
			t.Fatalf("import: %v\n%s%s", err, out, errs)
		}
		for _, want := range []string{"line 3: the line is not a record", "line 5: the email belongs to another account",
			"line 6: passwordHash: must be an argon2id hash"} {
			if !strings.Contains(errs, want) {
				t.Errorf("the report lacks %q:\n%s", want, errs)
			}
		}
		if strings.Contains(errs, "saltsalt") || strings.Contains(errs, "If6bvum7") || strings.Contains(out, "If6bvum7") {
			t.Errorf("the report echoes a hash:\n%s", errs)
		}
		out, errs, err = b.run(t, "", "users", "import", csv)
		if err == nil || !strings.Contains(out, "1 created, 1 unchanged, 1 failed") || !strings.Contains(errs, "line 3: email: ") {
			t.Fatalf("import of the CSV: %v\n%s%s", err, out, errs)
		}
		events := b.count(t, "SELECT count(*) FROM outbox WHERE type = 'user.created'")
		if events != 3 {
			t.Errorf("%d user.created events, want 3", events)
		}

		// Again: nothing changes.
		out, errs, err = b.run(t, "", "users", "import", jsonl)
		if err == nil || !strings.Contains(out, "0 created, 3 unchanged, 3 failed") {
			t.Fatalf("second import: %v\n%s%s", err, out, errs)
		}
		if n := b.count(t, "SELECT count(*) FROM outbox WHERE type = 'user.created'"); n != events {
			t.Errorf("the second import made %d more events", n-events)
		}

		// The export round trip: every account as it was imported.
		got := map[string]map[string]any{}
		for _, m := range b.exported(t) {
			got[m["email"].(string)] = m
		}
		for email, want := range map[string]map[string]any{
			"ada@example.com":    {"id": adaID, "username": "ada", "displayName": "Ada Lovelace", "role": "admin", "createdAt": "2020-01-02T03:04:05Z", "status": "active", "lastLoginAt": nil},
			"grace@example.com":  {"username": "grace", "displayName": "Grace Hopper", "role": "user", "createdAt": "2020-02-03T04:05:06.789Z"},
			"rasmus@example.com": {"id": rasmusID, "username": "rasmus", "displayName": "Lerdorf, Rasmus", "role": "support", "createdAt": "2019-06-07T08:09:10Z"},
		} {
			m, ok := got[email]
			if !ok {
				t.Errorf("%s was not exported", email)
				continue
			}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("%s: %s = %v, want %v", email, k, m[k], v)
				}
			}
			if _, ok := m["passwordHash"]; ok {
				t.Errorf("%s: the export holds a password hash", email)
			}
		}
		if len(got) != 3 {
			t.Errorf("exported %d accounts, want 3", len(got))
		}
		if roles := got["ada@example.com"]["roles"].([]any); !slices.Equal(roles, []any{"user", "admin"}) {
			t.Errorf("ada's roles %v", roles)
		}

		// Old passwords sign in; bcrypt becomes argon2id on the way.
		svc := b.service(t)
		for email, pw := range map[string]string{"ada@example.com": "abc", "rasmus": "rasmuslerdorf", "grace": gracePW} {
			if _, _, err := svc.Login(t.Context(), email, pw, usermgmt.Client{IP: "192.0.2.1"}); err != nil {
				t.Errorf("sign-in of %s: %v", email, err)
			}
		}
		if _, _, err := svc.Login(t.Context(), "ada", "abd", usermgmt.Client{IP: "192.0.2.1"}); !usermgmt.IsUnauthenticated(err) {
			t.Errorf("a wrong password: %v", err)
		}
		_ = svc.Close()
		for _, id := range []string{adaID, rasmusID} {
			if h := b.passwordHash(t, id); !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
				t.Errorf("after the first sign-in, %s's hash starts %.20q, want argon2id", id, h)
			}
		}
		svc = b.service(t)
		if _, _, err := svc.Login(t.Context(), "ada", "abc", usermgmt.Client{IP: "192.0.2.1"}); err != nil {
			t.Errorf("sign-in after the rehash: %v", err)
		}
		_ = svc.Close()
		if got := b.exported(t); got[0]["lastLoginAt"] == nil && got[1]["lastLoginAt"] == nil {
			t.Error("the export shows no sign-in")
		}
	})
}

// TestWorkerUsersImportStdin: "-" reads standard input in the format
// --format names.
func TestWorkerUsersImportStdin(t *testing.T) {
	dir := t.TempDir()
	b := &backend{env: map[string]string{"USERMGMT_DATA_DIR": dir, "USERMGMT_ENCRYPTION_KEY": testEncryptionKey, "USERMGMT_LOG_LEVEL": "error"}}
	in := "email,username,passwordHash,createdAt\nada@example.com,ada," + bcryptABC + ",2020-01-02T03:04:05Z\n"
	out, errs, err := b.run(t, in, "users", "import", "--format", "csv", "-")
	if err != nil || !strings.Contains(out, "1 created") {
		t.Fatalf("import from stdin: %v\n%s%s", err, out, errs)
	}
	if out := b.must(t, "users", "export"); !strings.Contains(out, `"email":"ada@example.com"`) {
		t.Errorf("export to stdout: %s", out)
	}
}

// TestWorkerAuditVerify: the chain of an import verifies; a record edited
// past the triggers is named, with exit status 1.
func TestWorkerAuditVerify(t *testing.T) {
	backends(t, func(t *testing.T, b *backend) {
		jsonl, _ := importFiles(t)
		_, _, _ = b.run(t, "", "users", "import", jsonl)
		out := b.must(t, "audit", "verify")
		if !strings.Contains(out, "2 records checked, from record 0 to the head at record 2") || !strings.Contains(out, "intact") {
			t.Fatalf("audit verify: %s", out)
		}
		b.exec(t, "UPDATE audit_log SET target = 'someone-else' WHERE seq = 2")
		out, _, err := b.run(t, "", "audit", "verify")
		if err == nil || !strings.Contains(err.Error(), "broken at record 2") || !strings.Contains(out, "broken at record 2: hash_mismatch") {
			t.Fatalf("audit verify after tampering: %v\n%s", err, out)
		}
	})
}

// TestWorkerPrune: an account deleted longer ago than the retention is
// erased, with a user.erased entry on an intact chain; one deleted
// recently stays.
func TestWorkerPrune(t *testing.T) {
	backends(t, func(t *testing.T, b *backend) {
		jsonl, _ := importFiles(t)
		_, _, _ = b.run(t, "", "users", "import", jsonl)
		old, recent := time.Now().Add(-31*24*time.Hour), time.Now().Add(-29*24*time.Hour)
		at := func(t time.Time) string {
			if b.pg {
				return "'" + t.UTC().Format(time.RFC3339Nano) + "'"
			}
			return fmt.Sprint(t.UnixMicro())
		}
		b.exec(t,
			"UPDATE users SET status = 'deleted', deleted_at = "+at(old)+" WHERE email = 'ada@example.com'",
			"UPDATE users SET status = 'deleted', deleted_at = "+at(recent)+" WHERE email = 'grace@example.com'")
		out := b.must(t, "prune")
		if !strings.Contains(out, "1 deleted accounts erased") {
			t.Fatalf("prune: %s", out)
		}
		if n := b.count(t, "SELECT count(*) FROM users"); n != 1 {
			t.Errorf("%d accounts left, want grace's", n)
		}
		if n := b.count(t, "SELECT count(*) FROM credentials WHERE user_id = '"+adaID+"'"); n != 0 {
			t.Errorf("the erased account's password is still there")
		}
		if n := b.count(t, "SELECT count(*) FROM audit_log WHERE action = 'user.erased' AND target = '"+adaID+"' AND actor_kind = 'system'"); n != 1 {
			t.Errorf("%d user.erased entries for the erased account, want 1", n)
		}
		if out := b.must(t, "audit", "verify"); !strings.Contains(out, "intact") {
			t.Errorf("audit verify after prune: %s", out)
		}
		if out := b.must(t, "prune"); !strings.Contains(out, "0 deleted accounts erased") {
			t.Errorf("a second prune: %s", out)
		}
	})
}

// TestWorkerCreateAdmin: the password comes from the environment or from
// standard input, never from the command line; a second run changes
// nothing; an ordinary account's address is refused.
func TestWorkerCreateAdmin(t *testing.T) {
	backends(t, func(t *testing.T, b *backend) {
		b.env["USERMGMT_ADMIN_PASSWORD"] = "a long admin passphrase"
		if out := b.must(t, "create-admin", "root@example.com"); !strings.Contains(out, "created the superadmin root@example.com") {
			t.Fatalf("create-admin: %s", out)
		}
		if out := b.must(t, "create-admin", "root@example.com"); !strings.Contains(out, "exists already") {
			t.Fatalf("create-admin again: %s", out)
		}
		delete(b.env, "USERMGMT_ADMIN_PASSWORD")
		if out, errs, err := b.run(t, "another long passphrase\n", "create-admin", "ops@example.com"); err != nil || !strings.Contains(out, "created") {
			t.Fatalf("create-admin with the password on stdin: %v\n%s%s", err, out, errs)
		}
		if _, _, err := b.run(t, "", "create-admin", "nobody@example.com"); err == nil || !strings.Contains(err.Error(), "no password") {
			t.Errorf("create-admin without a password: %v", err)
		}
		if _, _, err := b.run(t, "short\n", "create-admin", "weak@example.com"); err == nil {
			t.Error("create-admin accepted a password the policy refuses")
		}
		svc := b.service(t)
		u, _, err := svc.Login(t.Context(), "ops@example.com", "another long passphrase", usermgmt.Client{IP: "192.0.2.1"})
		if err != nil || u.Role != "superadmin" {
			t.Fatalf("sign-in of the new administrator: %+v, %v", u, err)
		}
		if _, _, err := svc.Register(t.Context(), "plain@example.com", "plain", gracePW, "", usermgmt.Client{}); err != nil {
			t.Fatal(err)
		}
		_ = svc.Close()
		b.env["USERMGMT_ADMIN_PASSWORD"] = "a long admin passphrase"
		if _, _, err := b.run(t, "", "create-admin", "plain@example.com"); err == nil || !strings.Contains(err.Error(), "not an administrator") {
			t.Errorf("create-admin of an ordinary account's address: %v", err)
		}
	})
}

// TestWorkerSeed: seeding makes the accounts, signs in with the seed
// password, and a second run adds nothing.
func TestWorkerSeed(t *testing.T) {
	backends(t, func(t *testing.T, b *backend) {
		if out := b.must(t, "seed", "60"); !strings.Contains(out, "accounts 0 to 59 exist") {
			t.Fatalf("seed: %s", out)
		}
		b.must(t, "seed", "60")
		if n := b.count(t, "SELECT count(*) FROM users"); n != 60 {
			t.Fatalf("%d accounts after seeding 60 twice", n)
		}
		var email string
		for _, m := range b.exported(t) {
			if m["status"] == "active" && m["mfaEnabled"] == false {
				email = m["email"].(string)
				break
			}
		}
		svc := b.service(t)
		if _, _, err := svc.Login(t.Context(), email, usermgmt.SeedPassword, usermgmt.Client{IP: "192.0.2.1"}); err != nil {
			t.Errorf("sign-in of seeded %s: %v", email, err)
		}
	})
}
