package main_test

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestE2E_KafkaDownThenUp: with the broker down, registrations still
// succeed and their events wait in the outbox; when the broker comes up
// every event arrives, keyed by the user id, with the CloudEvents headers.
func TestE2E_KafkaDownThenUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	broker := "127.0.0.1:" + strconv.Itoa(port)

	s := start(t, "USERMGMT_DATA_DIR="+t.TempDir(), "USERMGMT_KAFKA_BROKERS="+broker, "USERMGMT_KAFKA_TOPIC=user-events")
	ids := map[string]bool{}
	for _, name := range []string{"ada", "grace", "linus"} {
		r := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": name + "@example.com", "username": name, "password": pw})
		if r.status != 201 {
			t.Fatalf("register with Kafka down: %d %s", r.status, r.raw)
		}
		ids[r.body["user"].(map[string]any)["id"].(string)] = true
	}

	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(3, "user-events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("user-events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	created := map[string]bool{}
	for len(created) < len(ids) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("got user.created for %d of %d users before the deadline\n%s", len(created), len(ids), s.logs)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var env struct {
				ID, Type, Subject, SpecVersion string
				Data                           map[string]any
			}
			if err := json.Unmarshal(r.Value, &env); err != nil {
				t.Fatalf("value %s: %v", r.Value, err)
			}
			headers := map[string]string{}
			for _, h := range r.Headers {
				headers[h.Key] = string(h.Value)
			}
			if string(r.Key) != env.Subject || headers["ce_type"] != env.Type || headers["ce_id"] != env.ID {
				t.Errorf("key %q headers %v for %s %s", r.Key, headers, env.Type, env.ID)
			}
			if env.Type == "user.created" && ids[env.Subject] && env.Data["userId"] == env.Subject {
				created[env.Subject] = true
			}
		})
	}
}
