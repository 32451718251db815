package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/usermgmt/usermgmt/adapters/kafka"
	"github.com/usermgmt/usermgmt/core/errs"
)

const (
	group = "test-group"
	dlq   = topic + ".dlq"
)

// dlqCluster is a cluster with the source topic and its dead-letter topic.
func dlqCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	return cluster(t, kfake.SeedTopics(3, dlq))
}

// produce writes one record per value to partition p, with the given
// headers, and returns them with their offsets.
func produce(t *testing.T, brokers []string, p int32, headers map[string]string, values ...string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Partition: p, Key: []byte("key-" + strconv.Itoa(int(p))), Value: []byte(v)}
		for k, hv := range headers {
			recs[i].Headers = append(recs[i].Headers, kgo.RecordHeader{Key: k, Value: []byte(hv)})
		}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return recs
}

// journal collects what a handler saw, safely across goroutines.
type journal struct {
	mu    sync.Mutex
	calls []kafka.Message // every call, failed or not
	ok    []kafka.Message // calls that returned nil
}

func (l *journal) add(m kafka.Message, err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, m)
	if err == nil {
		l.ok = append(l.ok, m)
	}
	return err
}

func (l *journal) handled() []kafka.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]kafka.Message(nil), l.ok...)
}

func (l *journal) callsFor(value string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.calls {
		if string(m.Value) == value {
			n++
		}
	}
	return n
}

func (l *journal) values() []string {
	var vs []string
	for _, m := range l.handled() {
		vs = append(vs, string(m.Value))
	}
	return vs
}

// handler records every call in l and returns fail's verdict.
func (l *journal) handler(fail func(ctx context.Context, m kafka.Message, attempt int) error) kafka.Handler {
	return func(ctx context.Context, m kafka.Message) error {
		return l.add(m, fail(ctx, m, l.callsFor(string(m.Value))+1))
	}
}

func succeed(context.Context, kafka.Message, int) error { return nil }

// start runs a consumer in the background; the returned stop cancels Run,
// checks it returned nil, and closes the consumer (leaving the group).
func start(t *testing.T, brokers []string, h kafka.Handler, tune func(*kafka.ConsumerConfig)) (stop func()) {
	t.Helper()
	cfg := kafka.ConsumerConfig{Brokers: brokers, Group: group, Topics: []string{topic}, Backoff: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
	if tune != nil {
		tune(&cfg)
	}
	c, err := kafka.NewConsumer(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after cancel")
			}
			c.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}

// eventually fails the test unless cond becomes true within 8s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// committed returns the group's committed offset for partition p, or -1.
func committed(c *kfake.Cluster, p int32) int64 {
	g := c.GroupInfo(group)
	if g == nil {
		return -1
	}
	if oc, ok := g.Commits[topic][p]; ok {
		return oc.Offset
	}
	return -1
}

// readDLQ reads n records from the dead-letter topic.
func readDLQ(t *testing.T, brokers []string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(dlq))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d dead-lettered records: %v", len(out), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// dlqSize counts the records in the dead-letter topic.
func dlqSize(c *kfake.Cluster) int64 {
	var n int64
	for _, p := range c.PartitionInfos(dlq) {
		n += p.HighWatermark - p.LogStartOffset
	}
	return n
}

func seq(prefix string, n int) []string {
	vs := make([]string, n)
	for i := range vs {
		vs[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return vs
}

func TestConsumer_HandlesInOrderPerPartitionAndCommitsSoTheGroupDoesNotRedeliver(t *testing.T) {
	c := dlqCluster(t)
	brokers := c.ListenAddrs()
	for p := range int32(3) {
		produce(t, brokers, p, nil, seq("p"+strconv.Itoa(int(p)), 10)...)
	}
	var first journal
	stop := start(t, brokers, first.handler(succeed), nil)
	eventually(t, "30 records handled", func() bool { return len(first.handled()) == 30 })
	eventually(t, "offsets committed", func() bool {
		return committed(c, 0) == 10 && committed(c, 1) == 10 && committed(c, 2) == 10
	})
	stop()

	last := map[int32]int64{0: -1, 1: -1, 2: -1}
	for _, m := range first.handled() {
		if m.Offset != last[m.Partition]+1 {
			t.Fatalf("partition %d: offset %d after %d", m.Partition, m.Offset, last[m.Partition])
		}
		if want := fmt.Sprintf("p%d-%02d", m.Partition, m.Offset); string(m.Value) != want || string(m.Key) != "key-"+strconv.Itoa(int(m.Partition)) {
			t.Fatalf("partition %d offset %d: key %q value %q", m.Partition, m.Offset, m.Key, m.Value)
		}
		last[m.Partition] = m.Offset
	}

	// A new member of the group resumes at the commits: it sees only the
	// markers produced after the first member stopped. A marker on every
	// partition proves each partition was fetched past any old record.
	var second journal
	start(t, brokers, second.handler(succeed), nil)
	for p := range int32(3) {
		produce(t, brokers, p, nil, "marker-"+strconv.Itoa(int(p)))
	}
	eventually(t, "markers handled", func() bool { return len(second.handled()) >= 3 })
	for _, v := range second.values() {
		if !strings.HasPrefix(v, "marker-") {
			t.Fatalf("second consumer got old record %q (all: %v)", v, second.values())
		}
	}
}

func TestConsumer_RebalanceWhileConsumingLosesNothingAndCommitsToTheEnd(t *testing.T) {
	c := dlqCluster(t)
	brokers := c.ListenAddrs()
	slow := func(context.Context, kafka.Message, int) error { time.Sleep(5 * time.Millisecond); return nil }
	var a, b journal
	start(t, brokers, a.handler(slow), nil)
	for p := range int32(3) {
		produce(t, brokers, p, nil, seq("first-"+strconv.Itoa(int(p)), 40)...)
	}
	eventually(t, "the first member is consuming", func() bool { return len(a.handled()) > 0 })
	start(t, brokers, b.handler(slow), nil) // joins mid-stream: a rebalance revokes some of a's partitions
	eventually(t, "both members own partitions", func() bool {
		g := c.GroupInfo(group)
		return g != nil && len(g.Members) == 2 && g.Members[0].NumAssigned() > 0 && g.Members[1].NumAssigned() > 0
	})
	for p := range int32(3) {
		produce(t, brokers, p, nil, seq("second-"+strconv.Itoa(int(p)), 10)...)
	}
	eventually(t, "everything committed", func() bool {
		return committed(c, 0) == 50 && committed(c, 1) == 50 && committed(c, 2) == 50
	})
	// Redeliveries across the rebalance are allowed (handlers are
	// idempotent); a record no member handled is not.
	seen := map[string]bool{}
	for _, j := range []*journal{&a, &b} {
		for _, v := range j.values() {
			seen[v] = true
		}
	}
	if len(seen) != 150 {
		t.Fatalf("handled %d distinct records, want 150", len(seen))
	}
}

func TestConsumer_TransientErrorsRetryInProcessThenSucceedWithoutDeadLettering(t *testing.T) {
	c := dlqCluster(t)
	brokers := c.ListenAddrs()
	produce(t, brokers, 0, nil, "a", "flaky", "b")
	var l journal
	start(t, brokers, l.handler(func(_ context.Context, m kafka.Message, attempt int) error {
		if string(m.Value) == "flaky" && attempt <= 2 {
			return errors.New("database unavailable")
		}
		return nil
	}), nil)
	eventually(t, "all handled and committed", func() bool { return committed(c, 0) == 3 })
	if got := strings.Join(l.values(), ","); got != "a,flaky,b" {
		t.Fatalf("handled %s", got)
	}
	if n := l.callsFor("flaky"); n != 3 {
		t.Fatalf("flaky called %d times, want 3", n)
	}
	if n := dlqSize(c); n != 0 {
		t.Fatalf("%d records dead-lettered", n)
	}
}

func TestConsumer_PoisonMessageGoesToDLQWithHeadersAndLaterMessagesFlow(t *testing.T) {
	c := dlqCluster(t)
	brokers := c.ListenAddrs()
	produce(t, brokers, 1, nil, "ok-1")
	poison := produce(t, brokers, 1, map[string]string{kafka.HeaderID: "evt-poison", kafka.HeaderType: "user.created"}, "poison")[0]
	produce(t, brokers, 1, nil, `{"id":"evt-invalid"}`, "ok-2", "ok-3")
	before := time.Now().UTC().Truncate(time.Second)
	var l journal
	start(t, brokers, l.handler(func(_ context.Context, m kafka.Message, _ int) error {
		switch string(m.Value) {
		case "poison":
			return kafka.Permanent(errors.New("payload fails its schema"))
		case `{"id":"evt-invalid"}`:
			return fmt.Errorf("apply: %w", errs.ErrValidation)
		}
		return nil
	}), func(cfg *kafka.ConsumerConfig) { cfg.MaxAttempts = 10 })
	eventually(t, "committed past the poison", func() bool { return committed(c, 1) == 5 })
	if got := strings.Join(l.values(), ","); got != "ok-1,ok-2,ok-3" {
		t.Fatalf("handled %s", got)
	}
	if n := l.callsFor("poison"); n != 1 {
		t.Fatalf("a permanent error was retried: %d calls", n)
	}
	if n := l.callsFor(`{"id":"evt-invalid"}`); n != 1 {
		t.Fatalf("an errs.Invalid error was retried: %d calls", n)
	}

	got := readDLQ(t, brokers, 2)
	byValue := map[string]*kgo.Record{}
	for _, r := range got {
		byValue[string(r.Value)] = r
	}
	r := byValue["poison"]
	if r == nil {
		t.Fatalf("poison not in the DLQ: %v", got)
	}
	if string(r.Key) != string(poison.Key) {
		t.Fatalf("key %q, want %q", r.Key, poison.Key)
	}
	want := map[string]string{
		kafka.HeaderOrigTopic:     topic,
		kafka.HeaderOrigPartition: "1",
		kafka.HeaderOrigOffset:    strconv.FormatInt(poison.Offset, 10),
		kafka.HeaderEventID:       "evt-poison",
		kafka.HeaderError:         "payload fails its schema",
		kafka.HeaderAttempts:      "1",
		kafka.HeaderID:            "evt-poison",
		kafka.HeaderType:          "user.created",
	}
	for k, v := range want {
		if h := header(r, k); h != v {
			t.Errorf("header %s = %q, want %q", k, h, v)
		}
	}
	at, err := time.Parse(time.RFC3339, header(r, kafka.HeaderFirstFailedAt))
	if err != nil || at.Before(before) || at.After(time.Now().Add(time.Second)) || at.Location() != time.UTC {
		t.Errorf("x-first-failed-at %q: %v", header(r, kafka.HeaderFirstFailedAt), err)
	}
	inv := byValue[`{"id":"evt-invalid"}`]
	if inv == nil || header(inv, kafka.HeaderEventID) != "evt-invalid" || header(inv, kafka.HeaderOrigOffset) != "2" {
		t.Fatalf("invalid message in the DLQ: %v", inv)
	}
}

func TestConsumer_ExhaustedRetriesGoToDLQWithAttemptsAndTruncatedError(t *testing.T) {
	c := dlqCluster(t)
	brokers := c.ListenAddrs()
	produce(t, brokers, 2, nil, "doomed", "after")
	long := strings.Repeat("é", 2000) // 4000 bytes, two per rune
	var l journal
	start(t, brokers, l.handler(func(_ context.Context, m kafka.Message, _ int) error {
		if string(m.Value) == "doomed" {
			return errors.New(long)
		}
		return nil
	}), func(cfg *kafka.ConsumerConfig) { cfg.MaxAttempts = 3 })
	eventually(t, "committed past the doomed record", func() bool { return committed(c, 2) == 2 })
	if n := l.callsFor("doomed"); n != 3 {
		t.Fatalf("doomed called %d times, want MaxAttempts=3", n)
	}
	if got := l.values(); len(got) != 1 || got[0] != "after" {
		t.Fatalf("handled %v", got)
	}
	r := readDLQ(t, brokers, 1)[0]
	if string(r.Value) != "doomed" || header(r, kafka.HeaderAttempts) != "3" {
		t.Fatalf("dead-lettered %q with x-attempts %q", r.Value, header(r, kafka.HeaderAttempts))
	}
	if e := header(r, kafka.HeaderError); len(e) > 1024 || len(e) < 1000 || !strings.HasPrefix(long, e) {
		t.Fatalf("x-error is %d bytes, want a prefix of at most 1 KiB on a rune boundary", len(e))
	}
}

func TestConsumer_StoppedWhileRetryingDoesNotCommitAndTheGroupRedelivers(t *testing.T) {
	c := dlqCluster(t)
	brokers := c.ListenAddrs()
	// Work on the other partitions first, so every partition has a commit
	// when the second member joins.
	produce(t, brokers, 1, nil, "other-1")
	produce(t, brokers, 2, nil, "other-2")
	var first journal
	stop := start(t, brokers, first.handler(func(_ context.Context, m kafka.Message, _ int) error {
		if string(m.Value) == "stuck" {
			return errors.New("dependency down")
		}
		return nil
	}), func(cfg *kafka.ConsumerConfig) { cfg.MaxAttempts = 1000 })
	eventually(t, "other partitions committed", func() bool { return committed(c, 1) == 1 && committed(c, 2) == 1 })
	produce(t, brokers, 0, nil, "done-1", "done-2", "stuck", "later")
	eventually(t, "stuck is being retried", func() bool { return first.callsFor("stuck") >= 3 })
	stop()

	// The finished prefix is committed; the interrupted record is not.
	if got := committed(c, 0); got != 2 {
		t.Fatalf("committed offset %d, want 2 (the stuck record's)", got)
	}
	if n := dlqSize(c); n != 0 {
		t.Fatalf("an interrupted record was dead-lettered (%d)", n)
	}

	var second journal
	start(t, brokers, second.handler(succeed), nil)
	eventually(t, "redelivered and committed", func() bool { return committed(c, 0) == 4 })
	if got := strings.Join(second.values(), ","); got != "stuck,later" {
		t.Fatalf("second consumer handled %s, want stuck,later", got)
	}
}

func TestConsumer_EventIDFromCeIDHeaderElseJSONID(t *testing.T) {
	c := dlqCluster(t)
	brokers := c.ListenAddrs()
	produce(t, brokers, 0, map[string]string{kafka.HeaderID: "evt-header"}, `{"id":"evt-ignored"}`)
	produce(t, brokers, 0, nil, `{"id":"evt-json","type":"user.created"}`, `not json`, `{"id":42}`, `{"other":"x"}`)
	var l journal
	start(t, brokers, l.handler(succeed), nil)
	eventually(t, "all handled", func() bool { return len(l.handled()) == 5 })
	want := []string{"evt-header", "evt-json", "", "", ""}
	for i, m := range l.handled() {
		if m.EventID != want[i] {
			t.Errorf("%s: EventID %q, want %q", m.Value, m.EventID, want[i])
		}
	}
}

// counter is a slog handler that counts records per message, so a test can
// wait for something the consumer only logs (a failed dead-letter write).
type counter struct {
	slog.Handler
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) Handle(ctx context.Context, r slog.Record) error {
	c.mu.Lock()
	c.n[r.Message]++
	c.mu.Unlock()
	return c.Handler.Handle(ctx, r)
}

func (c *counter) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[msg]
}

func TestConsumer_DLQWriteFailureRetriesAndNeverCommitsFirst(t *testing.T) {
	c := cluster(t) // no dead-letter topic yet: writes to it fail
	brokers := c.ListenAddrs()
	produce(t, brokers, 0, nil, "poison", "after")
	logs := &counter{Handler: slog.NewTextHandler(t.Output(), nil), n: map[string]int{}}
	var l journal
	start(t, brokers, l.handler(func(_ context.Context, m kafka.Message, _ int) error {
		if string(m.Value) == "poison" {
			return kafka.Permanent(errors.New("bad"))
		}
		return nil
	}), func(cfg *kafka.ConsumerConfig) { cfg.Logger = slog.New(logs) })
	const failed = "kafka: dead-letter write failed; retrying"
	eventually(t, "a failed dead-letter write", func() bool { return logs.count(failed) >= 1 })
	time.Sleep(300 * time.Millisecond) // time enough to (wrongly) move on
	if got := committed(c, 0); got != -1 {
		t.Fatalf("committed offset %d before the dead-letter write succeeded", got)
	}
	if len(l.handled()) != 0 {
		t.Fatalf("a later record ran before the poison was dead-lettered: %v", l.values())
	}
	if err := c.CreateTopic(dlq, 3, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "dead-lettered and committed", func() bool { return committed(c, 0) == 2 })
	if r := readDLQ(t, brokers, 1)[0]; string(r.Value) != "poison" {
		t.Fatalf("dead-lettered %q", r.Value)
	}
	if l.callsFor("poison") != 1 {
		t.Fatal("the handler ran again while only the dead-letter write was failing")
	}
}

func TestConsumer_HandlerPanicIsDeadLetteredNotFatal(t *testing.T) {
	c := dlqCluster(t)
	brokers := c.ListenAddrs()
	produce(t, brokers, 0, nil, "boom", "after")
	var l journal
	start(t, brokers, l.handler(func(_ context.Context, m kafka.Message, _ int) error {
		if string(m.Value) == "boom" {
			panic("nil map")
		}
		return nil
	}), nil)
	eventually(t, "committed past the panic", func() bool { return committed(c, 0) == 2 })
	if r := readDLQ(t, brokers, 1)[0]; !strings.Contains(header(r, kafka.HeaderError), "nil map") {
		t.Fatalf("x-error %q", header(r, kafka.HeaderError))
	}
}

func TestIsPermanent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{kafka.Permanent(nil), false},
		{errors.New("timeout"), false},
		{kafka.Permanent(errors.New("bad schema")), true},
		{fmt.Errorf("wrapped: %w", kafka.Permanent(errors.New("bad schema"))), true},
		{errs.ErrValidation, true},
		{fmt.Errorf("apply: %w", errs.New(errs.Invalid, "x", "y")), true},
		{errs.New(errs.Unavailable, "db", "down"), false},
		{errs.New(errs.Conflict, "dup", "dup"), false},
	} {
		if got := kafka.IsPermanent(tc.err); got != tc.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	base := errors.New("cause")
	if !errors.Is(kafka.Permanent(base), base) {
		t.Error("Permanent hides its cause from errors.Is")
	}
}

func TestNewConsumer_RejectsIncompleteConfig(t *testing.T) {
	h := func(context.Context, kafka.Message) error { return nil }
	ok := kafka.ConsumerConfig{Brokers: []string{"127.0.0.1:1"}, Group: "g", Topics: []string{"t"}}
	for name, tc := range map[string]struct {
		cfg kafka.ConsumerConfig
		h   kafka.Handler
	}{
		"no brokers": {kafka.ConsumerConfig{Group: "g", Topics: []string{"t"}}, h},
		"no group":   {kafka.ConsumerConfig{Brokers: ok.Brokers, Topics: []string{"t"}}, h},
		"no topics":  {kafka.ConsumerConfig{Brokers: ok.Brokers, Group: "g"}, h},
		"no handler": {ok, nil},
	} {
		if _, err := kafka.NewConsumer(tc.cfg, tc.h); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	c, err := kafka.NewConsumer(ok, h)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close() // idempotent
	if err := c.Run(context.Background()); err == nil {
		t.Error("Run after Close succeeded")
	}
}
