package relay_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/relay"
	"github.com/usermgmt/usermgmt/ports"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// broker records what it acknowledged and fails while down.
type broker struct {
	mu   sync.Mutex
	down bool
	got  []ports.OutboxRecord
}

func (b *broker) Publish(_ context.Context, recs []ports.OutboxRecord) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return errors.New("broker unavailable")
	}
	b.got = append(b.got, recs...)
	return nil
}

func (b *broker) ids() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, len(b.got))
	for i, r := range b.got {
		out[i] = r.ID
	}
	return out
}

type fixture struct {
	store  *memory.Store
	outbox *memory.Outbox
	clock  *clock
	broker *broker
	relay  *relay.Relay
}

func newFixture(t *testing.T, cfg relay.Config) *fixture {
	t.Helper()
	m := memory.New()
	f := &fixture{store: m, outbox: memory.NewOutbox(m, event.NewEncoder("urn:test", "urn:s:", nil)),
		clock: &clock{t: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)}, broker: &broker{}}
	r, err := relay.New(memory.NewTransactor(m), f.outbox, f.broker, f.clock, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.relay = r
	return f
}

func (f *fixture) append(t *testing.T, n int, users ...string) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("evt-%03d", len(ids)+i)
		u := users[i%len(users)]
		e := event.New(id, u, f.clock.Now(), event.UserLogout{UserID: u, SessionID: "s", LogoutType: "manual"})
		if err := f.outbox.Append(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestRelay_PublishesInOrderAndMarks(t *testing.T) {
	f := newFixture(t, relay.Config{Batch: 4})
	want := f.append(t, 10, "a", "b")
	total := 0
	for {
		n, err := f.relay.Once(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 10 || fmt.Sprint(f.broker.ids()) != fmt.Sprint(want) {
		t.Fatalf("published %d: %v, want %v", total, f.broker.ids(), want)
	}
	if recs, _ := f.outbox.Claim(t.Context(), 100, f.clock.Now(), f.clock.Now()); len(recs) != 0 {
		t.Fatalf("%d records still pending", len(recs))
	}
}

func TestRelay_BrokerDownRowsWaitThenDrain(t *testing.T) {
	f := newFixture(t, relay.Config{MaxAttempts: 100})
	want := f.append(t, 5, "a")
	f.broker.down = true
	for range 3 {
		if _, err := f.relay.Once(t.Context()); err == nil {
			t.Fatal("publishing to a dead broker reported success")
		}
	}
	if len(f.broker.ids()) != 0 {
		t.Fatal("a dead broker acknowledged records")
	}
	f.broker.down = false
	if n, err := f.relay.Once(t.Context()); err != nil || n != 5 {
		t.Fatalf("after the broker returned: published %d, %v", n, err)
	}
	if fmt.Sprint(f.broker.ids()) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", f.broker.ids(), want)
	}
}

func TestRelay_ParksARecordThatKeepsFailing(t *testing.T) {
	f := newFixture(t, relay.Config{MaxAttempts: 2})
	f.append(t, 1, "a")
	f.broker.down = true
	for range 2 {
		_, _ = f.relay.Once(t.Context())
	}
	f.broker.down = false
	if n, err := f.relay.Once(t.Context()); err != nil || n != 0 {
		t.Fatalf("a parked record was published again: %d %v", n, err)
	}
	f.append(t, 1, "a")
	if n, _ := f.relay.Once(t.Context()); n != 1 {
		t.Fatal("a parked record blocks the ones after it")
	}
}

// TestRelay_CrashBetweenAckAndMark: the broker acknowledged but the relay
// never recorded it (here: its context ended). After the lease the records
// go out again with the same ids: duplicates, never loss.
func TestRelay_CrashBetweenAckAndMark(t *testing.T) {
	f := newFixture(t, relay.Config{Lease: time.Minute})
	want := f.append(t, 3, "a")
	ctx, cancel := context.WithCancel(t.Context())
	crashing := &cancelAfterPublish{next: f.broker, cancel: cancel}
	r, err := relay.New(memory.NewTransactor(f.store), f.outbox, crashing, f.clock, relay.Config{Lease: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = r.Once(ctx)
	if n, _ := f.relay.Once(t.Context()); n != 0 {
		t.Fatalf("published %d records still under lease", n)
	}
	f.clock.Advance(2 * time.Minute)
	if n, err := f.relay.Once(t.Context()); err != nil || n != 3 {
		t.Fatalf("after the lease: %d %v", n, err)
	}
	got := f.broker.ids()
	if fmt.Sprint(got) != fmt.Sprint(append(append([]string{}, want...), want...)) {
		t.Fatalf("broker saw %v, want each of %v twice with the same ids", got, want)
	}
}

type cancelAfterPublish struct {
	next   ports.EventPublisher
	cancel context.CancelFunc
}

func (c *cancelAfterPublish) Publish(ctx context.Context, recs []ports.OutboxRecord) error {
	err := c.next.Publish(ctx, recs)
	c.cancel()
	return err
}

// TestRelay_RolledBackTransactionEmitsNothing: events appended in a
// transaction that fails never reach the broker.
func TestRelay_RolledBackTransactionEmitsNothing(t *testing.T) {
	f := newFixture(t, relay.Config{})
	tx := memory.NewTransactor(f.store)
	err := tx.WithinTx(t.Context(), func(ctx context.Context) error {
		e := event.New("evt-rolled-back", "a", f.clock.Now(), event.UserLogout{UserID: "a", SessionID: "s", LogoutType: "manual"})
		if err := f.outbox.Append(ctx, e); err != nil {
			return err
		}
		return errors.New("the change failed")
	})
	if err == nil {
		t.Fatal("transaction did not fail")
	}
	if n, _ := f.relay.Once(t.Context()); n != 0 || len(f.broker.ids()) != 0 {
		t.Fatalf("a rolled-back event was published: %v", f.broker.ids())
	}
}

func TestRelay_NotifyWakesAnIdleRelay(t *testing.T) {
	f := newFixture(t, relay.Config{})
	r, err := relay.New(memory.NewTransactor(f.store), f.outbox, f.broker, f.clock, relay.Config{Interval: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	f.append(t, 2, "a")
	r.Notify()
	deadline := time.Now().Add(10 * time.Second)
	for len(f.broker.ids()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("a notified relay did not publish before its hour-long poll")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRelay_ReportsCommitToAckLatency(t *testing.T) {
	var latencies []time.Duration
	f := newFixture(t, relay.Config{OnPublished: func(typ string, d time.Duration) {
		if typ != event.TypeUserLogout {
			t.Errorf("type %q", typ)
		}
		latencies = append(latencies, d)
	}})
	f.append(t, 2, "a")
	f.clock.Advance(3 * time.Millisecond)
	if n, err := f.relay.Once(t.Context()); err != nil || n != 2 {
		t.Fatalf("Once: %d %v", n, err)
	}
	if len(latencies) != 2 || latencies[0] != 3*time.Millisecond || latencies[1] != 3*time.Millisecond {
		t.Fatalf("latencies %v, want two of 3ms (the fake clock's)", latencies)
	}
}

// TestPrune: Prune deletes what was published longer ago than the
// retention, and keeps newer and pending records.
func TestPrune(t *testing.T) {
	f := newFixture(t, relay.Config{Retention: time.Hour})
	ctx := t.Context()
	f.append(t, 3, "u1")
	if _, err := f.relay.Once(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Minute)
	f.append(t, 2, "u2")
	if _, err := f.relay.Once(ctx); err != nil {
		t.Fatal(err)
	}
	f.broker.down = true
	f.append(t, 1, "u3")
	f.clock.Advance(45 * time.Minute)
	if n, err := f.relay.Prune(ctx); err != nil || n != 3 {
		t.Fatalf("Prune = %d, %v; want the 3 records published 75 minutes ago", n, err)
	}
	if n, err := f.relay.Prune(ctx); err != nil || n != 0 {
		t.Fatalf("Prune again = %d, %v", n, err)
	}
	if pending, _, err := f.outbox.Backlog(ctx); err != nil || pending != 1 {
		t.Errorf("Backlog = %d, %v; the pending record must stay", pending, err)
	}
}
