package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/adapters/sqlstore"
	"github.com/usermgmt/usermgmt/adapters/sqlstore/sqlstoretest"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
)

var t0 = time.Date(2025, time.June, 1, 12, 0, 0, 123456000, time.UTC)

func TestContractSQLite(t *testing.T) {
	adaptertest.All(t, sqlstoretest.SQLiteSetup)
}

func TestContractPostgres(t *testing.T) {
	sqlstoretest.RequirePostgres(t)
	adaptertest.All(t, sqlstoretest.PostgresSetup)
}

// dialects runs fn against a fresh migrated database of each dialect.
func dialects(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, sqlstoretest.SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, sqlstoretest.Postgres(t)) })
}

func newID(t *testing.T) string {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

func newUser(t testing.TB, n int) user.User {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.New(user.ID(id.String()), fmt.Sprintf("u%d@example.com", n), fmt.Sprintf("user%d", n), "", t0)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSQLiteConcurrentWriters: writers of one process never see
// SQLITE_BUSY ("database is locked"), in or out of transactions, while
// readers run beside them.
func TestSQLiteConcurrentWriters(t *testing.T) {
	db := sqlstoretest.SQLite(t)
	s := sqlstoretest.Stores(db)
	ctx := t.Context()
	const writers = 32
	errs := make(chan error, 3*writers)
	var wg sync.WaitGroup
	for i := range writers {
		u := newUser(t, i)
		sess, _ := session.New(session.ID(newID(t)), u.ID(), []byte(newID(t)), session.Client{}, []string{"pwd"},
			session.Policy{AbsoluteLifetime: time.Hour, IdleTimeout: time.Hour}, t0)
		evt := event.New(newID(t), string(u.ID()), t0, event.UserCreated{UserID: string(u.ID())})
		wg.Go(func() {
			err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
				if err := s.Users.Create(ctx, u); err != nil {
					return err
				}
				if err := s.Sessions.Create(ctx, sess); err != nil {
					return err
				}
				return s.Outbox.Append(ctx, evt)
			})
			if err != nil {
				errs <- fmt.Errorf("writer %d: %w", i, err)
				return
			}
			// Writes outside a transaction, and reads beside them.
			if _, err := s.Users.Update(ctx, u.ID(), func(u *user.User) error { return u.GrantRole("member", t0.Add(time.Second)) }); err != nil {
				errs <- fmt.Errorf("writer %d: update: %w", i, err)
			}
			if _, err := s.Sessions.Revoke(ctx, sess.ID, session.ReasonManual, t0.Add(time.Minute)); err != nil {
				errs <- fmt.Errorf("writer %d: revoke: %w", i, err)
			}
			if _, err := s.Users.ByEmail(ctx, u.Email()); err != nil {
				errs <- fmt.Errorf("writer %d: read: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	revoked, err := s.Sessions.RevokedSince(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(revoked) != writers {
		t.Errorf("%d sessions revoked, want %d", len(revoked), writers)
	}
	recs, err := s.Relay.Claim(ctx, 100, t0, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != writers {
		t.Errorf("%d events in the outbox, want %d", len(recs), writers)
	}
}

// TestSQLiteTwoHandles: two DBs on one file (two processes, in effect)
// writing at once wait for each other through busy_timeout instead of failing.
func TestSQLiteTwoHandles(t *testing.T) {
	path := sqlstoretest.SQLitePath(t)
	var dbs [2]*sqlstore.DB
	for i := range dbs {
		db, err := sqlstore.Open(t.Context(), sqlstore.Config{SQLitePath: path})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		dbs[i] = db
	}
	var wg sync.WaitGroup
	migrateErrs := make([]error, len(dbs))
	for i, db := range dbs {
		wg.Go(func() { migrateErrs[i] = db.Migrate(t.Context()) })
	}
	wg.Wait()
	for i, err := range migrateErrs {
		if err != nil {
			t.Fatalf("Migrate %d: %v", i, err)
		}
	}
	const per = 10
	errs := make(chan error, 2*per)
	for i, db := range dbs {
		users := sqlstore.NewUsers(db)
		for j := range per {
			u := newUser(t, i*per+j)
			wg.Go(func() {
				if err := users.Create(t.Context(), u); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	dialects(t, func(t *testing.T, db *sqlstore.DB) {
		for range 2 {
			if err := db.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate again: %v", err)
			}
		}
		// The schema still works.
		if err := sqlstore.NewUsers(db).Create(t.Context(), newUser(t, 1)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPostgresConcurrentMigrate: processes starting together may all call
// Migrate; the advisory lock makes one apply and the others find it done.
func TestPostgresConcurrentMigrate(t *testing.T) {
	url := sqlstoretest.PostgresURL(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		db, err := sqlstore.Open(t.Context(), sqlstore.Config{URL: url, MaxOpenConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		wg.Go(func() { errs[i] = db.Migrate(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	path := sqlstoretest.SQLitePath(t)
	u := newUser(t, 1)
	for i := range 2 {
		db, err := sqlstore.Open(t.Context(), sqlstore.Config{SQLitePath: path})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		users := sqlstore.NewUsers(db)
		if i == 0 {
			err = users.Create(t.Context(), u)
		} else {
			var got user.User
			got, err = users.ByID(t.Context(), u.ID())
			if err == nil && (got.Email() != u.Email() || !got.CreatedAt().Equal(u.CreatedAt())) {
				err = fmt.Errorf("reopened user %+v, want %+v", got.Snapshot(), u.Snapshot())
			}
		}
		if cerr := db.Close(); cerr != nil {
			t.Fatal(cerr)
		}
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
	}
}

// TestPostgresClaimWaitsForAConcurrentClaim: a claim that starts while
// another relay's claim transaction is open waits for it (advisory lock) and
// then sees its leases, so the two get disjoint records.
func TestPostgresClaimWaitsForAConcurrentClaim(t *testing.T) {
	db := sqlstoretest.Postgres(t)
	s := sqlstoretest.Stores(db)
	ctx := t.Context()
	var events []event.Event
	for i := range 6 {
		events = append(events, event.New(newID(t), newID(t), t0.Add(time.Duration(i)*time.Second), event.UserCreated{}))
	}
	if err := s.Outbox.Append(ctx, events...); err != nil {
		t.Fatal(err)
	}
	lease := t0.Add(time.Hour)
	claimed := make(chan []string, 1)
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			recs, err := s.Relay.Claim(ctx, 2, t0, lease)
			ids := make([]string, len(recs))
			for i, r := range recs {
				ids[i] = r.ID
			}
			claimed <- ids
			<-release // keep the claim transaction open
			return err
		})
		if err != nil {
			t.Error(err)
		}
	})
	first := <-claimed
	secondDone := make(chan []string, 1)
	wg.Go(func() {
		var second []string
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			recs, err := s.Relay.Claim(ctx, 10, t0, lease)
			for _, r := range recs {
				second = append(second, r.ID)
			}
			return err
		})
		if err != nil {
			t.Error(err)
		}
		secondDone <- second
	})
	select {
	case got := <-secondDone:
		t.Fatalf("the second claim did not wait for the first: got %v", got)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	second := <-secondDone
	wg.Wait()
	if len(first) != 2 || len(second) != 4 {
		t.Fatalf("claimed %v then %v, want 2 then the other 4", first, second)
	}
	for _, id := range first {
		for _, other := range second {
			if id == other {
				t.Errorf("record %s claimed by both relays", id)
			}
		}
	}
}

func TestTxOfAnotherDBIsNotJoined(t *testing.T) {
	a, b := sqlstoretest.SQLite(t), sqlstoretest.SQLite(t)
	u := newUser(t, 1)
	err := sqlstore.NewTransactor(a).WithinTx(t.Context(), func(ctx context.Context) error {
		if err := sqlstore.NewUsers(b).Create(ctx, u); err != nil {
			return err
		}
		return errors.New("roll back a")
	})
	if err == nil {
		t.Fatal("WithinTx succeeded")
	}
	if _, err := sqlstore.NewUsers(b).ByID(t.Context(), u.ID()); err != nil {
		t.Fatalf("b's write, made outside b's transaction, was lost: %v", err)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	for _, cfg := range []sqlstore.Config{
		{},
		{URL: "mysql://root@localhost/db"},
		{URL: "postgres://user:secret@127.0.0.1:1/db?sslmode=disable"},
		{SQLitePath: "file:x.db?mode=memory"},
		{SQLitePath: "x.db", MaxOpenConns: -1},
	} {
		db, err := sqlstore.Open(t.Context(), cfg)
		if err == nil {
			_ = db.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open error leaks the password: %v", err)
		}
		if !strings.HasPrefix(err.Error(), "sqlstore: ") {
			t.Errorf("Open error %q lacks the sqlstore prefix", err)
		}
	}
}

func TestDialect(t *testing.T) {
	dialects(t, func(t *testing.T, db *sqlstore.DB) {
		if got := db.Dialect(); got != strings.Split(t.Name(), "/")[1] {
			t.Errorf("Dialect() = %q in %s", got, t.Name())
		}
		if err := db.Ping(t.Context()); err != nil {
			t.Error(err)
		}
	})
}

func TestSQLiteInMemory(t *testing.T) {
	db, err := sqlstore.Open(t.Context(), sqlstore.Config{SQLitePath: sqlstore.SQLiteMemory})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	s := sqlstoretest.Stores(db)
	u := newUser(t, 1)
	if err := s.Users.Create(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Users.ByID(t.Context(), u.ID()); err != nil {
		t.Fatal(err)
	}
}
