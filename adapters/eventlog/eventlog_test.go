package eventlog_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/adapters/eventlog"
	"github.com/usermgmt/usermgmt/ports"
)

// TestPayloadsOnlyAtDebug_LO07: at info the log learns which events were
// published, never what they say about a person.
func TestPayloadsOnlyAtDebug_LO07(t *testing.T) {
	rec := ports.OutboxRecord{ID: "01j-event", Type: "user.created", Key: "01j-user",
		Payload: []byte(`{"data":{"email":"ada@example.com","ipAddress":"203.0.113.9"}}`)}
	for level, wantPayload := range map[slog.Level]bool{slog.LevelInfo: false, slog.LevelDebug: true} {
		var out bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: level}))
		if err := eventlog.New(log).Publish(t.Context(), []ports.OutboxRecord{rec}); err != nil {
			t.Fatal(err)
		}
		got := out.String()
		if !strings.Contains(got, "01j-event") || !strings.Contains(got, "user.created") {
			t.Errorf("%v: the event's id and type are missing: %s", level, got)
		}
		if strings.Contains(got, "ada@example.com") != wantPayload || strings.Contains(got, "203.0.113.9") != wantPayload {
			t.Errorf("%v: payload logged = %v, want %v: %s", level, !wantPayload, wantPayload, got)
		}
	}
}

// TestPublisherContract runs the publisher suite at debug, the level at
// which the log holds the whole event, envelope included; the reader parses
// the JSON lines back into records.
func TestPublisherContract(t *testing.T) {
	adaptertest.EventPublisher(t, func(*testing.T) adaptertest.PublisherRig {
		var out bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
		return adaptertest.PublisherRig{
			Publisher: eventlog.New(log),
			Delivered: func(t *testing.T, _ int) []ports.OutboxRecord {
				var recs []ports.OutboxRecord
				for line := range bytes.Lines(out.Bytes()) {
					var e struct {
						ID, Type, Key string
						Envelope      json.RawMessage
					}
					if err := json.Unmarshal(line, &e); err != nil {
						t.Fatalf("log line %s: %v", line, err)
					}
					recs = append(recs, ports.OutboxRecord{ID: e.ID, Type: e.Type, Key: e.Key, Payload: e.Envelope})
				}
				return recs
			},
		}
	})
}
