package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/usermgmt/usermgmt/adapters/sqlstore"
	"github.com/usermgmt/usermgmt/adapters/sqlstore/sqlstoretest"
	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/auditlog"
)

var (
	auditKey    = []byte("sqlstore audit test key")
	errRollBack = errors.New("roll back")
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// auditRig is an audit log on a fresh database, and a second connection
// to it that bypasses the adapter: someone with write access.
type auditRig struct {
	db    *sqlstore.DB
	store *sqlstore.AuditLog
	log   *auditlog.Log
	raw   *sql.DB
	pg    bool
}

// auditDialects runs fn on a rig of each dialect.
func auditDialects(t *testing.T, fn func(t *testing.T, r auditRig)) {
	t.Run("sqlite", func(t *testing.T) {
		path := sqlstoretest.SQLitePath(t)
		db := openMigrated(t, sqlstore.Config{SQLitePath: path})
		raw, err := sql.Open(sqliteshim.ShimName, path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = raw.Close() })
		fn(t, newAuditRig(t, db, raw, false))
	})
	t.Run("postgres", func(t *testing.T) {
		url := sqlstoretest.PostgresURL(t)
		db := openMigrated(t, sqlstore.Config{URL: url})
		raw := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(url)))
		t.Cleanup(func() { _ = raw.Close() })
		fn(t, newAuditRig(t, db, raw, true))
	})
}

func openMigrated(t *testing.T, cfg sqlstore.Config) *sqlstore.DB {
	t.Helper()
	cfg.Logger = sqlstoretest.Logger(t)
	db, err := sqlstore.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

func newAuditRig(t *testing.T, db *sqlstore.DB, raw *sql.DB, pg bool) auditRig {
	t.Helper()
	store := sqlstore.NewAuditLog(db)
	log, err := auditlog.New(auditlog.Deps{Log: store, Clock: fixedClock{t0}}, auditKey)
	if err != nil {
		t.Fatal(err)
	}
	return auditRig{db: db, store: store, log: log, raw: raw, pg: pg}
}

// record appends n entries, a minute apart from t0.
func (r auditRig) record(t *testing.T, n int) []audit.Entry {
	t.Helper()
	for i := range n {
		e := audit.Entry{At: t0.Add(time.Duration(i) * time.Minute), Actor: audit.Actor{Kind: audit.ActorUser, ID: "admin"},
			Action: "admin.user.deactivate", Target: fmt.Sprintf("user-%d", i), Outcome: audit.Success,
			Details: map[string]string{"reason": "test"}}
		if err := r.log.Record(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	var out []audit.Entry
	if err := r.store.Scan(t.Context(), audit.Filter{}, 0, func(e audit.Entry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// blob is b as a literal of the dialect.
func (r auditRig) blob(b []byte) string {
	if r.pg {
		return "'\\x" + hex.EncodeToString(b) + "'::bytea"
	}
	return "X'" + hex.EncodeToString(b) + "'"
}

// tamper runs stmts past the triggers: with replication-role triggers off
// on Postgres (the test user is a superuser), after dropping them on
// SQLite, as the database's owner could.
func (r auditRig) tamper(t *testing.T, stmts ...string) {
	t.Helper()
	ctx := t.Context()
	tx, err := r.raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if r.pg {
		stmts = append([]string{"SET LOCAL session_replication_role = replica"}, stmts...)
	} else {
		for _, trg := range []string{"audit_log_extend_head", "audit_log_no_update", "audit_log_pruned_only",
			"audit_head_advance", "audit_head_no_delete", "audit_checkpoint_advance", "audit_checkpoint_no_delete"} {
			stmts = append([]string{"DROP TRIGGER IF EXISTS " + trg}, stmts...)
		}
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func (r auditRig) verify(t *testing.T) auditlog.Report {
	t.Helper()
	rep, err := r.log.Verify(t.Context())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func wantBroken(t *testing.T, rep auditlog.Report, seq int64, reason audit.Reason) {
	t.Helper()
	if b := rep.FirstBroken; b == nil || b.Seq != seq || b.Reason != reason {
		t.Fatalf("FirstBroken = %+v, want record %d (%s)", b, seq, reason)
	}
}

// TestAuditTriggersKeepTheLogAppendOnly: without DDL rights, nothing but
// appends and pruning past the checkpoint changes the audit tables.
func TestAuditTriggersKeepTheLogAppendOnly(t *testing.T) {
	sqlstoretest.RequirePostgres(t)
	auditDialects(t, func(t *testing.T, r auditRig) {
		ctx := t.Context()
		r.record(t, 4)
		if n, err := r.log.Prune(ctx, t0.Add(auditlog.DefaultRetention+time.Second), 0, 0); err != nil || n != 1 {
			t.Fatalf("Prune = %d, %v", n, err)
		}
		refused := []string{
			"UPDATE audit_log SET target = 'someone-else' WHERE seq = 3",
			"UPDATE audit_log SET seq = 10 WHERE seq = 4",
			"DELETE FROM audit_log WHERE seq = 3",
			"DELETE FROM audit_log",
			"INSERT INTO audit_log SELECT seq + 100, at, actor_kind, actor_id, action, target, org, ip, user_agent, request_id, outcome, details, prev_hash, hash FROM audit_log WHERE seq = 4",
			"INSERT INTO audit_log SELECT 5, at, actor_kind, actor_id, action, 'forged', org, ip, user_agent, request_id, outcome, details, prev_hash, hash FROM audit_log WHERE seq = 4",
			"UPDATE audit_head SET seq = seq - 1",
			"UPDATE audit_head SET seq = seq + 1",
			"UPDATE audit_head SET hash = " + r.blob(make([]byte, 32)),
			"DELETE FROM audit_head",
			"UPDATE audit_checkpoint SET seq = 0",
			"DELETE FROM audit_checkpoint",
		}
		if r.pg {
			refused = append(refused, "TRUNCATE audit_log", "TRUNCATE audit_head", "TRUNCATE audit_checkpoint")
		}
		for _, s := range refused {
			// The triggers' messages start with "audit:": a refusal for any
			// other reason (a typo) would prove nothing.
			if _, err := r.raw.ExecContext(ctx, s); err == nil || !strings.Contains(err.Error(), "audit: ") {
				t.Errorf("%s: not refused by a trigger: %v", s, err)
			}
		}
		rep := r.verify(t)
		if rep.FirstBroken != nil || rep.Checked != 3 || rep.Head.Seq != 4 {
			t.Errorf("after refused tampering: %+v", rep)
		}
	})
}

// TestAuditTamperingIsDetected: what gets past the triggers, the chain
// catches, and Verify names the record.
func TestAuditTamperingIsDetected(t *testing.T) {
	sqlstoretest.RequirePostgres(t)
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, r auditRig, es []audit.Entry)
		seq    int64
		reason audit.Reason
	}{
		{"an edited field", func(t *testing.T, r auditRig, _ []audit.Entry) {
			r.tamper(t, "UPDATE audit_log SET outcome = 'denied' WHERE seq = 3")
		}, 3, audit.ReasonHash},
		{"an edited detail", func(t *testing.T, r auditRig, _ []audit.Entry) {
			r.tamper(t, `UPDATE audit_log SET details = '{"reason":"other"}' WHERE seq = 2`)
		}, 2, audit.ReasonHash},
		{"an edit resealed without the key", func(t *testing.T, r auditRig, es []audit.Entry) {
			e := es[2]
			e.Target = "someone-else"
			forged := audit.Seal(es[1].Link(), e, nil)
			r.tamper(t, fmt.Sprintf("UPDATE audit_log SET target = 'someone-else', hash = %s WHERE seq = 3", r.blob(forged.Hash[:])))
		}, 3, audit.ReasonHash},
		{"a deleted middle row", func(t *testing.T, r auditRig, _ []audit.Entry) {
			r.tamper(t, "DELETE FROM audit_log WHERE seq = 4")
		}, 4, audit.ReasonMissing},
		{"a deleted row, the later ones renumbered", func(t *testing.T, r auditRig, _ []audit.Entry) {
			r.tamper(t, "DELETE FROM audit_log WHERE seq = 4",
				"UPDATE audit_log SET seq = seq - 1 WHERE seq = 5",
				"UPDATE audit_log SET seq = seq - 1 WHERE seq = 6",
				"UPDATE audit_head SET seq = seq - 1")
		}, 4, audit.ReasonPrevHash},
		{"a deleted tail", func(t *testing.T, r auditRig, _ []audit.Entry) {
			r.tamper(t, "DELETE FROM audit_log WHERE seq >= 5")
		}, 5, audit.ReasonMissing},
		{"swapped rows", func(t *testing.T, r auditRig, _ []audit.Entry) {
			r.tamper(t, "UPDATE audit_log SET seq = 100 WHERE seq = 2",
				"UPDATE audit_log SET seq = 2 WHERE seq = 3",
				"UPDATE audit_log SET seq = 3 WHERE seq = 100")
		}, 2, audit.ReasonPrevHash},
		{"the checkpoint moved to hide deleted rows", func(t *testing.T, r auditRig, _ []audit.Entry) {
			// No trigger stops this: it is a forward move onto a stored
			// entry, as pruning makes. Only the key is missing.
			ctx := t.Context()
			for _, s := range []string{
				"UPDATE audit_checkpoint SET seq = 3, hash = (SELECT hash FROM audit_log WHERE seq = 3)",
				"DELETE FROM audit_log WHERE seq <= 3",
			} {
				if _, err := r.raw.ExecContext(ctx, s); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
		}, 3, audit.ReasonCheckpoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auditDialects(t, func(t *testing.T, r auditRig) {
				es := r.record(t, 6)
				if rep := r.verify(t); rep.FirstBroken != nil || rep.Checked != 6 {
					t.Fatalf("before tampering: %+v", rep)
				}
				tc.tamper(t, r, es)
				wantBroken(t, r.verify(t), tc.seq, tc.reason)
			})
		})
	}
}

// TestPostgresAuditAppendWaitsForTheChainHead: an append inside an open
// transaction holds the chain head until that transaction ends, so a
// concurrent append waits, then chains on what committed.
func TestPostgresAuditAppendWaitsForTheChainHead(t *testing.T) {
	db := sqlstoretest.Postgres(t)
	store, tx := sqlstore.NewAuditLog(db), sqlstore.NewTransactor(db)
	log, err := auditlog.New(auditlog.Deps{Log: store, Clock: fixedClock{t0}}, auditKey)
	if err != nil {
		t.Fatal(err)
	}
	e := audit.Entry{Action: "user.login", Outcome: audit.Success}
	locked, release, second := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		_ = tx.WithinTx(t.Context(), func(ctx context.Context) error {
			if err := log.Record(ctx, e); err != nil {
				t.Error(err)
			}
			close(locked)
			<-release
			return errRollBack // the waiting append must then take seq 1
		})
	}()
	<-locked
	go func() { second <- log.Record(t.Context(), e) }()
	select {
	case err := <-second:
		t.Fatalf("the second append did not wait for the first: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	head, err := store.Head(t.Context())
	if err != nil || head.Seq != 1 {
		t.Fatalf("Head = %+v, %v; want seq 1 (the first append rolled back)", head, err)
	}
	if rep, err := log.Verify(t.Context()); err != nil || rep.FirstBroken != nil || rep.Checked != 1 {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}
