package auditlog_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/auditlog"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/ports"
)

var (
	t0      = time.Date(2026, time.March, 1, 9, 0, 0, 0, time.UTC)
	key     = []byte("auditlog test key")
	errBoom = errors.New("boom")
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	store *memory.Store
	tx    ports.Transactor
	log   *memory.AuditLog
	clock *clock
	audit *auditlog.Log
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	m := memory.New()
	f := &fixture{store: m, tx: memory.NewTransactor(m), log: memory.NewAuditLog(m), clock: &clock{t: t0}}
	f.audit = f.withLog(t, f.log, key)
	return f
}

// withLog returns a Log over log (a tampering wrapper, say) with key.
func (f *fixture) withLog(t *testing.T, log ports.AuditLog, key []byte) *auditlog.Log {
	t.Helper()
	l, err := auditlog.New(auditlog.Deps{Log: log, Clock: f.clock}, key)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func entry(action, target string) audit.Entry {
	return audit.Entry{Actor: audit.Actor{Kind: audit.ActorUser, ID: "admin-1"}, Action: action, Target: target, Outcome: audit.Success}
}

// record records n entries one second apart, the clock moving along.
func (f *fixture) record(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		if err := f.audit.Record(t.Context(), entry("user.login", fmt.Sprintf("t%d", i))); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
	}
}

func (f *fixture) all(t *testing.T) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	if err := f.log.Scan(t.Context(), audit.Filter{}, 0, func(e audit.Entry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNewRequiresDeps(t *testing.T) {
	if _, err := auditlog.New(auditlog.Deps{}, key); err == nil {
		t.Error("New without dependencies succeeded")
	}
}

func TestRecordFillsFromContextAndClock(t *testing.T) {
	f := newFixture(t)
	ctx := audit.WithRequest(t.Context(), audit.Request{IP: "::ffff:192.0.2.9", UserAgent: "browser/2", RequestID: "req-9"})
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorAPIKey, ID: "key-7"})

	if err := f.audit.Record(ctx, audit.Entry{Action: "admin.user.deactivate", Target: "u1", Outcome: audit.Success}); err != nil {
		t.Fatal(err)
	}
	explicit := audit.Entry{At: t0.Add(-time.Hour), Actor: audit.Actor{Kind: audit.ActorUser, ID: "u2"}, Action: "user.login",
		IP: "198.51.100.1", UserAgent: "cli/1", RequestID: "own", Outcome: audit.Denied}
	if err := f.audit.Record(ctx, explicit); err != nil {
		t.Fatal(err)
	}
	if err := f.audit.Record(t.Context(), audit.Entry{Action: "system.sweep", Outcome: audit.Success}); err != nil {
		t.Fatal(err)
	}
	es := f.all(t)
	if len(es) != 3 {
		t.Fatalf("%d entries", len(es))
	}
	if e := es[0]; e.Actor != (audit.Actor{Kind: audit.ActorAPIKey, ID: "key-7"}) || e.IP != "192.0.2.9" ||
		e.UserAgent != "browser/2" || e.RequestID != "req-9" || !e.At.Equal(t0) {
		t.Errorf("filled from ctx: %+v", e)
	}
	if e := es[1]; e.Actor != explicit.Actor || e.IP != explicit.IP || e.UserAgent != "cli/1" || e.RequestID != "own" || !e.At.Equal(explicit.At) {
		t.Errorf("explicit fields were overwritten: %+v", e)
	}
	if e := es[2]; e.Actor != (audit.Actor{Kind: audit.ActorSystem}) || e.IP != "" {
		t.Errorf("without ctx: %+v", e)
	}
	rep, err := f.audit.Verify(t.Context())
	if err != nil || rep.FirstBroken != nil || rep.Checked != 3 || rep.Head != es[2].Link() {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

func TestRecordRefusesInvalidEntries(t *testing.T) {
	f := newFixture(t)
	for _, e := range []audit.Entry{
		{Action: "nope", Outcome: audit.Success},
		{Action: "user.login"},
		{Action: "user.login", Outcome: audit.Success, Details: map[string]string{"password": "hunter2"}},
	} {
		if err := f.audit.Record(t.Context(), e); errs.KindOf(err) != errs.Invalid {
			t.Errorf("Record(%+v) = %v, want an Invalid error", e, err)
		}
	}
	if es := f.all(t); len(es) != 0 {
		t.Errorf("%d invalid entries stored", len(es))
	}
}

func TestRecordJoinsTheTransaction(t *testing.T) {
	f := newFixture(t)
	err := f.tx.WithinTx(t.Context(), func(ctx context.Context) error {
		if err := f.audit.Record(ctx, entry("user.update", "u1")); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	if es := f.all(t); len(es) != 0 {
		t.Errorf("a rolled-back record left %d entries", len(es))
	}
	if head, _ := f.log.Head(t.Context()); head != audit.Genesis() {
		t.Errorf("a rolled-back record moved the head to %+v", head)
	}
}

// tampered is an audit log whose reads an attacker changed.
type tampered struct {
	*memory.AuditLog
	edit       func(e audit.Entry) (audit.Entry, bool) // false drops the entry
	checkpoint func(cp audit.Checkpoint) audit.Checkpoint
	beforeScan func()
}

func (l *tampered) Scan(ctx context.Context, f audit.Filter, after int64, fn func(audit.Entry) error) error {
	if l.beforeScan != nil {
		l.beforeScan()
	}
	return l.AuditLog.Scan(ctx, f, after, func(e audit.Entry) error {
		if l.edit != nil {
			var keep bool
			if e, keep = l.edit(e); !keep {
				return nil
			}
		}
		return fn(e)
	})
}

func (l *tampered) Checkpoint(ctx context.Context) (audit.Checkpoint, bool, error) {
	cp, ok, err := l.AuditLog.Checkpoint(ctx)
	if l.checkpoint != nil {
		cp = l.checkpoint(cp)
	}
	return cp, ok, err
}

func TestVerifyNamesTheFirstBrokenRecord(t *testing.T) {
	for _, tc := range []struct {
		name   string
		log    func(l *tampered)
		key    []byte
		seq    int64
		reason audit.Reason
	}{
		{"an edited field", func(l *tampered) {
			l.edit = func(e audit.Entry) (audit.Entry, bool) {
				if e.Seq == 4 {
					e.Outcome = audit.Denied
				}
				return e, true
			}
		}, key, 4, audit.ReasonHash},
		{"a deleted row", func(l *tampered) {
			l.edit = func(e audit.Entry) (audit.Entry, bool) { return e, e.Seq != 3 }
		}, key, 3, audit.ReasonMissing},
		{"a deleted tail", func(l *tampered) {
			l.edit = func(e audit.Entry) (audit.Entry, bool) { return e, e.Seq < 5 }
		}, key, 5, audit.ReasonMissing},
		{"another key", func(*tampered) {}, []byte("not the key"), 1, audit.ReasonHash},
		{"a forged checkpoint", func(l *tampered) {
			l.checkpoint = func(audit.Checkpoint) audit.Checkpoint {
				return audit.Checkpoint{Seq: 2, Hash: audit.Hash{1}, At: t0}
			}
		}, key, 2, audit.ReasonCheckpoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.record(t, 6)
			l := &tampered{AuditLog: f.log}
			tc.log(l)
			rep, err := f.withLog(t, l, tc.key).Verify(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if b := rep.FirstBroken; b == nil || b.Seq != tc.seq || b.Reason != tc.reason {
				t.Fatalf("FirstBroken = %+v, want record %d (%s)", b, tc.seq, tc.reason)
			}
		})
	}
}

func TestVerifyStartsAgainWhenAPruneMovesTheCheckpoint(t *testing.T) {
	f := newFixture(t)
	f.record(t, 6)
	l := &tampered{AuditLog: f.log}
	pruned := false
	l.beforeScan = func() {
		if !pruned {
			pruned = true
			if n, err := f.audit.Prune(context.Background(), t0.Add(2*time.Second+365*24*time.Hour), 0, 0); err != nil || n != 2 {
				t.Errorf("Prune = %d, %v", n, err)
			}
		}
	}
	rep, err := f.withLog(t, l, key).Verify(t.Context())
	if err != nil || rep.FirstBroken != nil {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	if rep.From.Seq != 2 || rep.Checked != 4 {
		t.Errorf("verified %d entries from %d, want 4 from 2", rep.Checked, rep.From.Seq)
	}
}

func TestPruneInBatchesThenVerify(t *testing.T) {
	f := newFixture(t)
	f.record(t, 10)
	now := t0.Add(time.Hour)
	n, err := f.audit.Prune(t.Context(), now, time.Hour-7*time.Second, 3) // entries at t0..t0+6s are older
	if err != nil || n != 7 {
		t.Fatalf("Prune = %d, %v; want 7", n, err)
	}
	cp, ok, err := f.log.Checkpoint(t.Context())
	if err != nil || !ok || cp.Seq != 7 || !cp.At.Equal(now) {
		t.Fatalf("Checkpoint = %+v, %v, %v", cp, ok, err)
	}
	rep, err := f.audit.Verify(t.Context())
	if err != nil || rep.FirstBroken != nil || rep.Checked != 3 || rep.From != cp.Link() {
		t.Fatalf("Verify after pruning = %+v, %v", rep, err)
	}
	// Nothing is a year old: the default retention prunes nothing.
	if n, err := f.audit.Prune(t.Context(), now, 0, 0); err != nil || n != 0 {
		t.Errorf("Prune with the default retention = %d, %v", n, err)
	}
	if n, err := f.audit.Prune(t.Context(), now.Add(auditlog.DefaultRetention), 0, 0); err != nil || n != 3 {
		t.Errorf("Prune a year later = %d, %v", n, err)
	}
	if rep, err := f.audit.Verify(t.Context()); err != nil || rep.FirstBroken != nil || rep.Checked != 0 {
		t.Errorf("Verify of a pruned-out log = %+v, %v", rep, err)
	}
}

// brokenPrune hands Prune's seal an edited entry, as a tampered row reads.
type brokenPrune struct{ *memory.AuditLog }

func (l brokenPrune) Prune(ctx context.Context, before time.Time, limit int,
	seal func(audit.Checkpoint, []audit.Entry) (audit.Checkpoint, error)) (int, error) {
	return l.AuditLog.Prune(ctx, before, limit, func(cur audit.Checkpoint, es []audit.Entry) (audit.Checkpoint, error) {
		es[1].Target = "edited"
		return seal(cur, es)
	})
}

func TestPruneRefusesABrokenChain(t *testing.T) {
	f := newFixture(t)
	f.record(t, 4)
	n, err := f.withLog(t, brokenPrune{f.log}, key).Prune(t.Context(), t0.Add(time.Hour), time.Minute, 10)
	var b *audit.Broken
	if n != 0 || !errors.As(err, &b) || b.Seq != 2 {
		t.Fatalf("Prune of a broken chain = %d, %v; want 0 and record 2 broken", n, err)
	}
	if es := f.all(t); len(es) != 4 {
		t.Errorf("%d entries left, want all 4", len(es))
	}
}

func TestSearchAndExport(t *testing.T) {
	f := newFixture(t)
	for i := range 7 {
		e := entry("user.login", fmt.Sprintf("t%d", i%2))
		if i%3 == 0 {
			e.Outcome = audit.Denied
		}
		if err := f.audit.Record(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	page, err := f.audit.Search(t.Context(), audit.Filter{Target: "t0"}, 0, 2)
	if err != nil || len(page.Items) != 2 || page.Items[0].Seq != 7 || page.Items[1].Seq != 5 || page.Next != 5 {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	page, err = f.audit.Search(t.Context(), audit.Filter{Target: "t0"}, page.Next, 2)
	if err != nil || len(page.Items) != 2 || page.Items[0].Seq != 3 || page.Next != 0 {
		t.Fatalf("second page = %+v, %v", page, err)
	}
	if page, err := f.audit.Search(t.Context(), audit.Filter{}, 0, 0); err != nil || len(page.Items) != 7 {
		t.Errorf("default page = %d entries, %v", len(page.Items), err)
	}
	for _, tc := range []struct {
		f      audit.Filter
		cursor int64
	}{{audit.Filter{Outcome: "maybe"}, 0}, {audit.Filter{}, -1}} {
		if _, err := f.audit.Search(t.Context(), tc.f, tc.cursor, 10); errs.KindOf(err) != errs.Invalid {
			t.Errorf("Search(%+v, %d) = %v, want an Invalid error", tc.f, tc.cursor, err)
		}
	}

	var got []int64
	err = f.audit.Export(t.Context(), audit.Filter{Outcome: audit.Denied}, func(e audit.Entry) error {
		got = append(got, e.Seq)
		return nil
	})
	if err != nil || fmt.Sprint(got) != "[1 4 7]" {
		t.Errorf("Export = %v, %v; want [1 4 7] oldest first", got, err)
	}
	err = f.audit.Export(t.Context(), audit.Filter{}, func(audit.Entry) error { return errBoom })
	if err != errBoom { //nolint:errorlint // returned as is
		t.Errorf("Export whose fn fails = %v, want it as is", err)
	}
	if err := f.audit.Export(t.Context(), audit.Filter{From: t0, To: t0}, nil); errs.KindOf(err) != errs.Invalid {
		t.Errorf("Export of an empty range = %v", err)
	}
}
