package usermgmt

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/ports"
)

// hostSink is a host's bus as WithEventSink receives it. It ignores ctx
// and refuses an empty call, as some hosts' buses do: the adapter, not the
// host, keeps the contract.
type hostSink struct {
	mu     sync.Mutex
	events []Event
	err    error // refuses everything when set
}

func (s *hostSink) Publish(_ context.Context, evs []Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err != nil:
		return s.err
	case len(evs) == 0:
		return errors.New("host bus: empty batch")
	}
	s.events = append(s.events, evs...)
	return nil
}

// TestSinkPublisherContract runs the publisher suite against the adapter
// WithEventSink installs; the reader turns what the host received back
// into records.
func TestSinkPublisherContract(t *testing.T) {
	adaptertest.EventPublisher(t, func(*testing.T) adaptertest.PublisherRig {
		host := &hostSink{}
		return adaptertest.PublisherRig{
			Publisher: sinkPublisher{host},
			Delivered: func(*testing.T, int) []ports.OutboxRecord {
				host.mu.Lock()
				defer host.mu.Unlock()
				recs := make([]ports.OutboxRecord, len(host.events))
				for i, e := range host.events {
					recs[i] = ports.OutboxRecord{ID: e.ID, Type: e.Type, Key: e.Key, Payload: e.Envelope}
				}
				return recs
			},
			Refusing: func(*testing.T) ports.EventPublisher {
				return sinkPublisher{&hostSink{err: errors.New("host bus unavailable")}}
			},
		}
	})
}
