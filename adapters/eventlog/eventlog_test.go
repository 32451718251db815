package eventlog_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

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
