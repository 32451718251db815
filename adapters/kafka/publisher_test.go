package kafka_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/adapters/kafka"
	"github.com/usermgmt/usermgmt/ports"
)

const topic = "user-events"

func cluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, topic)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func publisher(t *testing.T, brokers []string, timeout time.Duration) *kafka.Publisher {
	t.Helper()
	p, err := kafka.NewPublisher(kafka.Config{Brokers: brokers, Topic: topic, DeliveryTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// consume reads n records from the topic.
func consume(t *testing.T, brokers []string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func records(n int, users ...string) []ports.OutboxRecord {
	recs := make([]ports.OutboxRecord, n)
	for i := range recs {
		u := users[i%len(users)]
		recs[i] = ports.OutboxRecord{ID: fmt.Sprintf("evt-%03d", i), Type: "user.login", Key: u,
			Payload: []byte(`{"n":` + strconv.Itoa(i) + `}`)}
	}
	return recs
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestPublisherContract runs the publisher suite against an in-process
// cluster; the reader decodes what a consumer sees (ce_id and ce_type
// headers, key, value) back into outbox records.
func TestPublisherContract(t *testing.T) {
	adaptertest.EventPublisher(t, func(t *testing.T) adaptertest.PublisherRig {
		brokers := cluster(t).ListenAddrs()
		return adaptertest.PublisherRig{
			Publisher: publisher(t, brokers, 5*time.Second),
			Delivered: func(t *testing.T, n int) []ports.OutboxRecord {
				var out []ports.OutboxRecord
				for _, r := range consume(t, brokers, n) {
					out = append(out, ports.OutboxRecord{ID: header(r, kafka.HeaderID), Type: header(r, kafka.HeaderType),
						Key: string(r.Key), Payload: r.Value})
				}
				return out
			},
			Refusing: func(t *testing.T) ports.EventPublisher {
				addr, _ := deadBroker(t)
				return publisher(t, []string{addr}, time.Second)
			},
		}
	})
}

// deadBroker returns a loopback address nothing listens on, and its port:
// a broker that is down.
func deadBroker(t *testing.T) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return "127.0.0.1:" + strconv.Itoa(port), port
}

func TestPublish_BrokerDownThenUp(t *testing.T) {
	addr, port := deadBroker(t)
	p := publisher(t, []string{addr}, time.Second)
	recs := records(5, "user-a")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := p.Publish(ctx, recs); err == nil {
		t.Fatal("publish to a dead broker succeeded")
	}
	c := cluster(t, kfake.Ports(port))
	// The breaker may be open for a few seconds after the failures; the
	// relay retries, and so does this loop.
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := p.Publish(ctx, recs)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker is up but publishing still fails: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := consume(t, c.ListenAddrs(), len(recs)); len(got) < len(recs) {
		t.Fatalf("consumed %d", len(got))
	}
}

// TestPublish_EveryEventTypeArrivesWithItsEnvelope publishes the golden
// envelope of each of the twelve published types (adapters/eventschema
// keeps them, schema-checked) and reads them back: same bytes, key = the
// subject (the user id), ce_type and ce_id headers.
func TestPublish_EveryEventTypeArrivesWithItsEnvelope(t *testing.T) {
	files, err := filepath.Glob("../eventschema/testdata/user.*.json")
	if err != nil || len(files) != 12 {
		t.Fatalf("golden envelopes: %v %v", files, err)
	}
	var recs []ports.OutboxRecord
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var env struct{ ID, Type, Subject string }
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, ports.OutboxRecord{ID: env.ID, Type: env.Type, Key: env.Subject, Payload: b})
	}
	c := cluster(t)
	p := publisher(t, c.ListenAddrs(), 5*time.Second)
	if err := p.Publish(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	got := map[string]*kgo.Record{}
	for _, r := range consume(t, c.ListenAddrs(), len(recs)) {
		got[header(r, kafka.HeaderType)] = r
	}
	for _, want := range recs {
		r := got[want.Type]
		if r == nil {
			t.Errorf("%s did not arrive", want.Type)
			continue
		}
		if string(r.Key) != want.Key || header(r, kafka.HeaderID) != want.ID || string(r.Value) != string(want.Payload) {
			t.Errorf("%s: key %q id %q, value differs: %v", want.Type, r.Key, header(r, kafka.HeaderID), string(r.Value) != string(want.Payload))
		}
	}
}
