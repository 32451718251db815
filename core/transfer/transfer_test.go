package transfer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/auditlog"
	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/transfer"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

var t0 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

type ids struct{ n atomic.Int64 }

func (i *ids) NewID() string          { return fmt.Sprintf("00000000-0000-7000-8000-%012d", i.n.Add(1)) }
func (i *ids) NewSecret(n int) []byte { return bytes.Repeat([]byte{byte(i.n.Add(1))}, n) }

// bcryptHash is jBCrypt's test vector for "abc".
const bcryptHash = "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i"

type rig struct {
	m        *memory.Store
	users    *memory.Users
	creds    *memory.Credentials
	outbox   *memory.Outbox
	audit    *memory.AuditLog
	argon2   credential.PasswordHash
	importer *transfer.Importer
	accounts ports.AccountImports
}

func newRig(t *testing.T) *rig {
	t.Helper()
	m := memory.New()
	r := &rig{m: m, users: memory.NewUsers(m), creds: memory.NewCredentials(m), audit: memory.NewAuditLog(m),
		outbox: memory.NewOutbox(m, event.NewEncoder("urn:test", "https://schemas.test/", nil))}
	r.accounts = r.users
	hasher, err := crypto.NewArgon2Hasher(crypto.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.argon2, err = hasher.Hash(t.Context(), "correct horse"); err != nil {
		t.Fatal(err)
	}
	c := &clock{t0}
	tx := memory.NewTransactor(m)
	trail, err := auditlog.New(auditlog.Deps{Log: r.audit, Clock: c}, []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	roles := memory.NewRoles(m)
	custom, err := role.New("billing", "", []role.Permission{role.UsersRead}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := roles.Create(t.Context(), custom); err != nil {
		t.Fatal(err)
	}
	r.importer, err = transfer.NewImporter(transfer.ImporterDeps{Tx: tx, Accounts: accountsOf{r}, Roles: roles, Hashes: hasher,
		Outbox: auditlog.NewRecorder(tx, r.outbox, trail), Clock: c, IDs: &ids{}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// accountsOf lets a test swap the store under the importer.
type accountsOf struct{ r *rig }

func (a accountsOf) Matching(ctx context.Context, ids []user.ID, emails, names []string) ([]user.User, error) {
	return a.r.accounts.Matching(ctx, ids, emails, names)
}

func (a accountsOf) CreateAccounts(ctx context.Context, accts []ports.ImportedAccount) error {
	return a.r.accounts.CreateAccounts(ctx, accts)
}

// records is a Source over a slice, numbering lines from 1.
type records struct {
	rs []transfer.Record
	i  int
}

func (s *records) Next() (transfer.Record, error) {
	if s.i == len(s.rs) {
		return transfer.Record{}, io.EOF
	}
	r := s.rs[s.i]
	s.i++
	r.Line = s.i
	return r, nil
}

func (r *rig) run(t *testing.T, rs []transfer.Record, o transfer.Options) (transfer.Summary, []transfer.Result) {
	t.Helper()
	var results []transfer.Result
	o.OnResult = func(res transfer.Result) { results = append(results, res) }
	sum, err := r.importer.Import(t.Context(), &records{rs: rs}, o)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return sum, results
}

var created = time.Date(2019, 5, 6, 7, 8, 9, 123456000, time.UTC)

func rec(n int, edit ...func(*transfer.Record)) transfer.Record {
	r := transfer.Record{Email: fmt.Sprintf("Ada%d@Example.com", n), Username: fmt.Sprintf("ada%d", n),
		DisplayName: fmt.Sprintf("Ada %d", n), PasswordHash: bcryptHash, CreatedAt: created.Add(time.Duration(n) * time.Hour)}
	for _, e := range edit {
		e(&r)
	}
	return r
}

const givenID = "f47ac10b-58cc-4372-a567-0e02b2c3d479"

// mixed is a file of every kind of record, and what each comes to.
func (r *rig) mixed() ([]transfer.Record, []transfer.Status) {
	rs := []transfer.Record{
		rec(1, func(r *transfer.Record) { r.ID = strings.ToUpper(givenID); r.Role = "admin" }),
		rec(2, func(x *transfer.Record) { x.PasswordHash = string(r.argon2); x.Role = "billing" }),
		rec(3, func(r *transfer.Record) { r.Email = "not an address" }),
		rec(4, func(r *transfer.Record) { r.PasswordHash = "$1$md5$crypt" }),
		rec(5, func(r *transfer.Record) { r.Role = "nonexistent" }),
		rec(6, func(r *transfer.Record) { r.ID = "42" }),
		{Err: errs.New(errs.Invalid, "import.unreadable", "the line is not a JSON object")},
		rec(2), // the same account again
		rec(7, func(r *transfer.Record) { r.Username = "ada1" }),   // another's username
		rec(1, func(r *transfer.Record) { r.CreatedAt = created }), // another creation time for ada1@
		rec(8, func(r *transfer.Record) { r.ID = givenID }),        // another account's id
		rec(9, func(r *transfer.Record) { r.PasswordHash = "" }),
		rec(10, func(r *transfer.Record) { r.CreatedAt = t0.Add(time.Hour) }),
		rec(11),
	}
	want := []transfer.Status{transfer.Created, transfer.Created, transfer.Failed, transfer.Failed, transfer.Failed,
		transfer.Failed, transfer.Failed, transfer.Unchanged, transfer.Failed, transfer.Failed, transfer.Failed,
		transfer.Failed, transfer.Failed, transfer.Created}
	return rs, want
}

func statuses(rs []transfer.Result) []transfer.Status {
	out := make([]transfer.Status, len(rs))
	for i, r := range rs {
		out[i] = r.Status
	}
	return out
}

// TestImport: every record is judged alone; valid ones are created with
// their id, creation time, role and hash, a user.created each, audited as
// the import's; the others fail with a reason, and nothing else fails.
func TestImport(t *testing.T) {
	for _, batch := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			r := newRig(t)
			rs, want := r.mixed()
			sum, results := r.run(t, rs, transfer.Options{Batch: batch})
			if got := statuses(results); !slices.Equal(got, want) {
				t.Fatalf("statuses %v\nwant     %v", got, want)
			}
			for i, res := range results {
				if res.Line != i+1 {
					t.Errorf("result %d is of line %d", i, res.Line)
				}
				if (res.Status == transfer.Failed) != (res.Err != nil) || (res.Status == transfer.Failed) != (res.ID == "") {
					t.Errorf("line %d: %+v", res.Line, res)
				}
				if res.Err != nil && strings.Contains(res.Err.Error(), "$1$md5") {
					t.Errorf("line %d: the reason repeats the hash: %v", res.Line, res.Err)
				}
			}
			if sum != (transfer.Summary{Created: 3, Unchanged: 1, Failed: 10}) {
				t.Errorf("summary %+v", sum)
			}
			for line, code := range map[int]string{9: "import.username_conflict", 10: "import.email_conflict", 11: "import.id_conflict"} {
				var e *errs.Error
				if !errors.As(results[line-1].Err, &e) || e.Code != code {
					t.Errorf("line %d: %v, want %s", line, results[line-1].Err, code)
				}
			}
			for line, field := range map[int]string{3: "email", 4: "passwordHash", 5: "role", 6: "id", 12: "passwordHash", 13: "createdAt"} {
				var e *errs.Error
				if !errors.As(results[line-1].Err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != field {
					t.Errorf("line %d: %v, want an invalid %s", line, results[line-1].Err, field)
				}
			}

			ada, err := r.users.ByID(t.Context(), givenID)
			if err != nil {
				t.Fatalf("the account with the given id: %v", err)
			}
			if ada.Email() != "ada1@example.com" || !ada.CreatedAt().Equal(created.Add(time.Hour)) || ada.Role() != "admin" || !ada.UpdatedAt().Equal(t0) {
				t.Errorf("imported %+v", ada.Snapshot())
			}
			if h, err := r.creds.PasswordHash(t.Context(), ada.ID()); err != nil || h != bcryptHash {
				t.Errorf("hash %q, %v", h, err)
			}
			billing, err := r.users.ByEmail(t.Context(), "ada2@example.com")
			if err != nil || !billing.HasRole("billing") || billing.ID() != results[1].ID || results[7].ID != billing.ID() {
				t.Errorf("the custom-role account: %v, %v; results %+v %+v", billing.Roles(), err, results[1], results[7])
			}
			if h, _ := r.creds.PasswordHash(t.Context(), billing.ID()); h != r.argon2 {
				t.Errorf("argon2id hash stored as %q", h)
			}
			checkEvents(t, r, []user.ID{givenID, results[1].ID, results[13].ID})
		})
	}
}

// checkEvents fails unless the outbox holds one user.created per id, from
// the import, and the audit trail the same, by the system's import.
func checkEvents(t *testing.T, r *rig, want []user.ID) {
	t.Helper()
	recs, err := r.outbox.Claim(t.Context(), 1000, t0.Add(time.Hour), t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var got []user.ID
	for _, rec := range recs {
		var env struct {
			Type string
			Data event.UserCreated
		}
		if err := json.Unmarshal(rec.Payload, &env); err != nil {
			t.Fatal(err)
		}
		if env.Type != event.TypeUserCreated || env.Data.Metadata["source"] != "import" || env.Data.RegistrationMethod != event.MethodEmail {
			t.Errorf("event %s: %+v", rec.ID, env)
		}
		got = append(got, user.ID(rec.Key))
	}
	if !slices.Equal(got, want) {
		t.Errorf("events of %v, want %v", got, want)
	}
	var entries []audit.Entry
	if err := r.audit.Scan(t.Context(), audit.Filter{}, 0, func(e audit.Entry) error { entries = append(entries, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Fatalf("%d audit entries, want %d", len(entries), len(want))
	}
	for i, e := range entries {
		if e.Action != event.TypeUserCreated || e.Target != string(want[i]) || e.Actor != (audit.Actor{Kind: audit.ActorSystem, ID: "import"}) ||
			e.Details["source"] != "import" {
			t.Errorf("audit entry %d: %+v", i, e)
		}
	}
}

// TestImport_Again: a second run of a file changes nothing, and says so.
func TestImport_Again(t *testing.T) {
	r := newRig(t)
	rs, _ := r.mixed()
	first, firstResults := r.run(t, rs, transfer.Options{Batch: 4})
	again, results := r.run(t, rs, transfer.Options{Batch: 4})
	if again != (transfer.Summary{Unchanged: first.Created + first.Unchanged, Failed: first.Failed}) {
		t.Errorf("second run %+v after %+v", again, first)
	}
	for i, res := range results {
		if res.Status == transfer.Unchanged && res.ID != firstResults[i].ID {
			t.Errorf("line %d: unchanged %s, first created %s", res.Line, res.ID, firstResults[i].ID)
		}
	}
	// Without ids, records match by email: they were given new ids the
	// first time, and keep them.
	checkEvents(t, r, []user.ID{givenID, firstResults[1].ID, firstResults[13].ID})
}

// TestImport_DryRun: a dry run reports what a run would do, the judgment of
// records against earlier ones in the file included, and writes nothing.
func TestImport_DryRun(t *testing.T) {
	for _, batch := range []int{0, 1, 3} {
		r := newRig(t)
		rs, want := r.mixed()
		sum, results := r.run(t, rs, transfer.Options{Batch: batch, DryRun: true})
		if got := statuses(results); !slices.Equal(got, want) {
			t.Fatalf("batch %d: statuses %v\nwant     %v", batch, got, want)
		}
		if sum != (transfer.Summary{Created: 3, Unchanged: 1, Failed: 10}) {
			t.Errorf("batch %d: summary %+v", batch, sum)
		}
		if found, err := r.users.Matching(t.Context(), []user.ID{givenID}, []string{"ada2@example.com", "ada11@example.com"}, nil); err != nil || len(found) != 0 {
			t.Errorf("a dry run stored %d accounts (%v)", len(found), err)
		}
		checkEvents(t, r, nil)
	}
}

// racing stores an account with the second email looked up right after
// the look-up, as a registration could.
type racing struct {
	ports.AccountImports
	users *memory.Users
	done  bool
}

func (r *racing) Matching(ctx context.Context, ids []user.ID, emails, names []string) ([]user.User, error) {
	found, err := r.AccountImports.Matching(ctx, ids, emails, names)
	if err != nil || r.done {
		return found, err
	}
	r.done = true
	u, err := user.New("00000000-0000-7000-8000-999999999999", emails[1], "racer", "", t0)
	if err != nil {
		return nil, err
	}
	return found, r.users.Create(ctx, u)
}

// TestImport_StoreConflictFallsBackOneByOne: when the store refuses a
// batch, its records are stored one by one and only the one in conflict
// fails.
func TestImport_StoreConflictFallsBackOneByOne(t *testing.T) {
	r := newRig(t)
	r.accounts = &racing{AccountImports: r.users, users: r.users}
	sum, results := r.run(t, []transfer.Record{rec(1), rec(2), rec(3)}, transfer.Options{})
	if got := statuses(results); !slices.Equal(got, []transfer.Status{transfer.Created, transfer.Failed, transfer.Created}) {
		t.Fatalf("statuses %v (%+v)", got, results)
	}
	if !errors.Is(results[1].Err, transfer.ErrEmailConflict) || sum.Created != 2 {
		t.Errorf("line 2: %v; summary %+v", results[1].Err, sum)
	}
	checkEvents(t, r, []user.ID{results[0].ID, results[2].ID})
}

// TestImport_SourceError: an unreadable source ends the import with what
// was done so far, and a cancelled one stops between batches.
func TestImport_SourceError(t *testing.T) {
	r := newRig(t)
	boom := errors.New("disk on fire")
	src := &failing{records: records{rs: []transfer.Record{rec(1), rec(2), rec(3)}}, after: 2, err: boom}
	sum, err := r.importer.Import(t.Context(), src, transfer.Options{Batch: 1})
	if !errors.Is(err, boom) || sum.Created != 2 {
		t.Errorf("Import = %+v, %v; want 2 created and the source's error", sum, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.importer.Import(ctx, &records{rs: []transfer.Record{rec(4)}}, transfer.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Import: %v", err)
	}
}

type failing struct {
	records
	after int
	err   error
}

func (f *failing) Next() (transfer.Record, error) {
	if f.i == f.after {
		return transfer.Record{}, f.err
	}
	return f.records.Next()
}

// TestExport: every account once, active and inactive ones then deleted
// ones, each by creation, across pages.
func TestExport(t *testing.T) {
	m := memory.New()
	users := memory.NewUsers(m)
	var want, deleted []user.ID
	for i := range 230 {
		u, err := user.New(user.ID(fmt.Sprintf("00000000-0000-7000-8000-%012d", i)), fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("user%d", i), "", t0.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := users.Create(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		switch i % 10 {
		case 3:
			if _, err := users.Update(t.Context(), u.ID(), func(u *user.User) error { u.Delete(t0); return nil }); err != nil {
				t.Fatal(err)
			}
			deleted = append(deleted, u.ID())
			continue
		case 4:
			if _, err := users.Update(t.Context(), u.ID(), func(u *user.User) error { u.Deactivate(t0); return nil }); err != nil {
				t.Fatal(err)
			}
		}
		want = append(want, u.ID())
	}
	want = append(want, deleted...)
	ex, err := transfer.NewExporter(memory.NewDirectory(m))
	if err != nil {
		t.Fatal(err)
	}
	var got []user.ID
	if err := ex.Export(t.Context(), func(l user.Listed) error { got = append(got, l.ID()); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("exported %d accounts, want %d in order", len(got), len(want))
	}
	boom := errors.New("pipe closed")
	if err := ex.Export(t.Context(), func(user.Listed) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("Export with a failing fn: %v", err)
	}
}
