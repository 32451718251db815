package adaptertest

import (
	"bytes"
	"context"
	"testing"

	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/ports"
)

// PublisherRig is one ports.EventPublisher under test and what observes it.
type PublisherRig struct {
	Publisher ports.EventPublisher
	// Delivered returns every record the destination (bus, log or sink)
	// has accepted so far, as its reader sees them, waiting until there
	// are at least n: a bus shows acknowledged records to its readers
	// only a little later.
	Delivered func(t *testing.T, n int) []ports.OutboxRecord
	// Refusing returns a publisher of the same kind whose destination
	// refuses everything (a broker that is down, a sink that fails). Nil
	// when the destination cannot refuse a record: slog drops a
	// handler's error, so a log write always counts as written.
	Refusing func(t *testing.T) ports.EventPublisher
}

// PublisherSetup returns a fresh rig for one test; cleanup goes to
// t.Cleanup. Subtests call t.Parallel.
type PublisherSetup func(t *testing.T) PublisherRig

// EventPublisher is the contract of ports.EventPublisher: Publish returns
// nil only when the destination accepted every record, and the relay marks
// records published on that word alone, so a nil for a record that did not
// arrive loses an event for good.
func EventPublisher(t *testing.T, setup PublisherSetup) {
	runPublisher(t, setup, "a batch arrives in order per key with id, type, key and payload intact", func(t *testing.T, r PublisherRig) {
		var recs []ports.OutboxRecord
		keys := []string{newID(t), newID(t), newID(t)}
		for i := range 30 {
			recs = append(recs, outboxRecord(t, keys[i%len(keys)]))
		}
		mustNotFail(t, "Publish", r.Publisher.Publish(t.Context(), recs))
		checkDelivered(t, r.Delivered(t, len(recs)), recs)
	})

	runPublisher(t, setup, "an empty batch is a no-op", func(t *testing.T, r PublisherRig) {
		mustNotFail(t, "Publish(nil)", r.Publisher.Publish(t.Context(), nil))
		mustNotFail(t, "Publish(empty)", r.Publisher.Publish(t.Context(), []ports.OutboxRecord{}))
		// A record after them shows the reader is live: it must be alone.
		rec := outboxRecord(t, newID(t))
		mustNotFail(t, "Publish", r.Publisher.Publish(t.Context(), []ports.OutboxRecord{rec}))
		checkDelivered(t, r.Delivered(t, 1), []ports.OutboxRecord{rec})
	})

	runPublisher(t, setup, "a cancelled context is an error, not a success", func(t *testing.T, r PublisherRig) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		recs := []ports.OutboxRecord{outboxRecord(t, newID(t)), outboxRecord(t, newID(t))}
		wantErr(t, "Publish with a cancelled context", r.Publisher.Publish(ctx, recs), context.Canceled)
		// The publisher still works: the relay publishes the batch again.
		mustNotFail(t, "Publish again", r.Publisher.Publish(t.Context(), recs))
		// The failed call may have delivered some records (the relay's
		// retry then delivers them twice, which consumers dedupe), but the
		// retry must deliver them all.
		arrived := map[string]bool{}
		for _, g := range r.Delivered(t, len(recs)) {
			arrived[g.ID] = true
		}
		for _, rec := range recs {
			if !arrived[rec.ID] {
				t.Errorf("record %s did not arrive", rec.ID)
			}
		}
	})

	runPublisher(t, setup, "a destination that refuses is an error, never a silent drop", func(t *testing.T, r PublisherRig) {
		if r.Refusing == nil {
			t.Skip("this destination cannot refuse a record")
		}
		err := r.Refusing(t).Publish(t.Context(), []ports.OutboxRecord{outboxRecord(t, newID(t))})
		if err == nil {
			t.Fatal("Publish to a destination that refuses returned nil: the relay would mark the record published")
		}
	})
}

func runPublisher(t *testing.T, setup PublisherSetup, name string, fn func(t *testing.T, r PublisherRig)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		fn(t, setup(t))
	})
}

// outboxRecord returns a record as the relay claims it: a real envelope
// about subject, whose user agent holds what encoders like to rewrite
// (non-ASCII, HTML characters, a line separator).
func outboxRecord(t *testing.T, subject string) ports.OutboxRecord {
	t.Helper()
	e := event.New(newID(t), subject, t0, event.UserLogin{UserID: subject, LoginMethod: event.MethodPassword,
		IPAddress: "203.0.113.7", UserAgent: "Mozilla/5.0 (Ünïcode ✓ <b>&amp;</b> \u2028)", SessionID: newID(t)})
	payload, err := Encoder()(context.Background(), e)
	mustNotFail(t, "encode", err)
	return ports.OutboxRecord{ID: e.ID, Type: e.Type, Key: e.Subject, Payload: payload, CreatedAt: t0}
}

// checkDelivered fails unless got holds exactly want, each record intact
// and each key's records in the order of want.
func checkDelivered(t *testing.T, got, want []ports.OutboxRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records delivered, want %d", len(got), len(want))
	}
	byID := make(map[string]ports.OutboxRecord, len(want))
	for _, w := range want {
		byID[w.ID] = w
	}
	next := map[string]int{} // per key: how many of its records arrived so far
	for _, g := range got {
		w, ok := byID[g.ID]
		if !ok {
			t.Fatalf("record %q delivered, but not published (or delivered twice)", g.ID)
		}
		delete(byID, g.ID)
		if g.Type != w.Type || g.Key != w.Key || !bytes.Equal(g.Payload, w.Payload) {
			t.Errorf("record %s = {Type:%s Key:%s Payload:%s}, want {Type:%s Key:%s Payload:%s}",
				g.ID, g.Type, g.Key, g.Payload, w.Type, w.Key, w.Payload)
		}
		if want := nthOfKey(want, g.Key, next[g.Key]); want != g.ID {
			t.Errorf("key %s: record %s arrived where %s was due", g.Key, g.ID, want)
		}
		next[g.Key]++
	}
}

// nthOfKey returns the id of the n-th record of key in recs.
func nthOfKey(recs []ports.OutboxRecord, key string, n int) string {
	for _, r := range recs {
		if r.Key != key {
			continue
		}
		if n == 0 {
			return r.ID
		}
		n--
	}
	return ""
}
