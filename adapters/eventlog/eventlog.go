// Package eventlog is the event publisher of the embedded default: it writes
// each outbox record to the structured log, where no event bus is configured.
package eventlog

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/usermgmt/usermgmt/ports"
)

// Publisher logs events at info level.
type Publisher struct{ log *slog.Logger }

// New returns a Publisher writing to log.
func New(log *slog.Logger) *Publisher { return &Publisher{log: log} }

var _ ports.EventPublisher = (*Publisher)(nil)

// Publish logs every record; a log write is its acknowledgement.
func (p *Publisher) Publish(ctx context.Context, recs []ports.OutboxRecord) error {
	for _, r := range recs {
		p.log.InfoContext(ctx, "event", "id", r.ID, "type", r.Type, "key", r.Key, "envelope", json.RawMessage(r.Payload))
	}
	return nil
}
