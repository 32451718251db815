package main_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/usermgmt/usermgmt/adapters/sqlstore/sqlstoretest"
)

func cloudEvent(id, typ string, data map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "type": typ, "specversion": "1.0", "source": "urn:test:other-service",
		"time": time.Now().UTC().Format(time.RFC3339Nano), "data": data})
	return b
}

// TestE2E_Consumer: the consumer binary applies consumed events once, sends
// a poison message to the dead-letter topic with its reason, and keeps the
// partition flowing after it.
func TestE2E_Consumer(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode skips Postgres")
	}
	url := sqlstoretest.PostgresURL(t)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "campaign-events", "subscription-events", "compliance-events", "account-events", "campaign-events.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	brokers := kc.ListenAddrs()[0]
	env := []string{"USERMGMT_DATABASE_URL=" + url, "USERMGMT_AUTO_MIGRATE=on", testEncryptionKey}
	s := start(t, env...)
	reg := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": pw})
	if reg.status != 201 {
		t.Fatalf("register: %d %s", reg.status, reg.raw)
	}
	uid := reg.body["user"].(map[string]any)["id"].(string)

	cmd := exec.Command(consumerBinary(t))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "USERMGMT_LOG_FORMAT=json", "USERMGMT_KAFKA_BROKERS=" + brokers,
		`USERMGMT_PLAN_ROLES={"pro":["pro"]}`}, env...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()

	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	send := func(topic string, value []byte) {
		t.Helper()
		if err := prod.ProduceSync(t.Context(), &kgo.Record{Topic: topic, Key: []byte(uid), Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	campaign := cloudEvent("11111111-1111-7111-8111-111111111111", "campaign.created", map[string]any{"userId": uid, "campaignId": "c-1"})
	send("campaign-events", campaign)
	send("campaign-events", campaign)          // a redelivery: no second effect
	send("campaign-events", []byte("{poison")) // cannot be applied: dead-lettered
	send("campaign-events", cloudEvent("22222222-2222-7222-8222-222222222222", "campaign.created", map[string]any{"userId": uid, "campaignId": "c-2"}))
	send("subscription-events", cloudEvent("33333333-3333-7333-8333-333333333333", "subscription.updated", map[string]any{"userId": uid, "plan": "pro", "features": []string{"api"}}))

	db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(url)))
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var campaigns int
		_ = db.QueryRowContext(t.Context(), "SELECT campaigns FROM user_activity WHERE user_id = $1", uid).Scan(&campaigns)
		var raw string
		_ = db.QueryRowContext(t.Context(), "SELECT roles FROM users WHERE id = $1", uid).Scan(&raw)
		var roles []string
		_ = json.Unmarshal([]byte(raw), &roles)
		if campaigns == 2 && slices.Equal(roles, []string{"user", "pro"}) {
			break
		}
		if campaigns > 2 {
			t.Fatalf("a redelivered event took effect twice: campaigns = %d", campaigns)
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaigns = %d, roles = %s\nconsumer log:\n%s", campaigns, roles, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}

	dlq, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics("campaign-events.dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var dead []*kgo.Record
	for len(dead) == 0 {
		fs := dlq.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("nothing in the dead-letter topic\n%s", logs)
		}
		dead = append(dead, fs.Records()...)
	}
	headers := map[string]string{}
	for _, h := range dead[0].Headers {
		headers[h.Key] = string(h.Value)
	}
	if string(dead[0].Value) != "{poison" || headers["x-orig-topic"] != "campaign-events" || headers["x-error"] == "" {
		t.Fatalf("dead letter %q with headers %v", dead[0].Value, headers)
	}
	if keys := slices.Sorted(maps.Keys(headers)); !slices.Contains(keys, "x-orig-offset") || !slices.Contains(keys, "x-attempts") {
		t.Fatalf("dead-letter headers %v", keys)
	}
}
