// Package eventlog is the event publisher of the embedded default: it writes
// each outbox record to the structured log, where no event bus is configured.
package eventlog

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/usermgmt/usermgmt/ports"
)

// Publisher logs each event's id, type and key at info level, and its
// envelope only at debug: payloads carry personal data (addresses, IPs,
// user agents) that an ordinary log must not collect.
type Publisher struct{ log *slog.Logger }

// New returns a Publisher writing to log.
func New(log *slog.Logger) *Publisher { return &Publisher{log: log} }

var _ ports.EventPublisher = (*Publisher)(nil)

// Publish logs every record; a log write is its acknowledgement. With ctx
// ended it logs nothing and says so, as a bus would: the caller gave up.
func (p *Publisher) Publish(ctx context.Context, recs []ports.OutboxRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	debug := p.log.Enabled(ctx, slog.LevelDebug)
	for _, r := range recs {
		if debug {
			p.log.DebugContext(ctx, "event", "id", r.ID, "type", r.Type, "key", r.Key, "envelope", json.RawMessage(r.Payload))
			continue
		}
		p.log.InfoContext(ctx, "event", "id", r.ID, "type", r.Type, "key", r.Key)
	}
	return nil
}
