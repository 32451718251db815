// Package kafka connects usermgmt to Kafka with franz-go: the outbox relay's
// publisher here, the consumer group and dead-letter topic with the events
// work. It speaks only the Kafka protocol, so any compatible broker works
// (Kafka, Redpanda, and kfake in tests).
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/usermgmt/usermgmt/ports"
)

// Headers every published record carries, so consumers route and dedupe
// without parsing the payload.
const (
	HeaderType = "ce_type"
	HeaderID   = "ce_id"
)

// Config configures a Publisher.
type Config struct {
	Brokers []string
	Topic   string // default "user-events"
	// DeliveryTimeout bounds how long a record may wait for the broker's
	// acknowledgement (default 30s): a dead broker surfaces as an error and
	// the outbox rows stay pending, instead of buffering forever.
	DeliveryTimeout time.Duration
	ClientID        string // default "usermgmt"
	Logger          *slog.Logger
}

// Publisher produces outbox records to Kafka: idempotent, acks from all
// in-sync replicas, synchronous, keyed by the event subject (the user id)
// so one user's events stay in order on one partition.
type Publisher struct {
	cl    *kgo.Client
	topic string
	exec  failsafe.Executor[any]
	log   *slog.Logger
}

var _ ports.EventPublisher = (*Publisher)(nil)

// NewPublisher connects lazily: it succeeds while the brokers are down, and
// Publish fails until they are up.
func NewPublisher(cfg Config) (*Publisher, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers")
	}
	if cfg.Topic == "" {
		cfg.Topic = "user-events"
	}
	if cfg.DeliveryTimeout <= 0 {
		cfg.DeliveryTimeout = 30 * time.Second
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "usermgmt"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence needs it; stated so no one lowers it
		kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout),
		// The relay sends a batch and waits for it: lingering would only
		// add latency to every commit-to-ack.
		kgo.ProducerLinger(0),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka: client: %w", err)
	}
	// Retries cover a broker blip within one relay round; the breaker stops
	// hammering a broker that is down, and the relay's own backoff takes over.
	retry := retrypolicy.NewBuilder[any]().
		WithMaxRetries(2).
		WithBackoff(100*time.Millisecond, time.Second).
		AbortOnErrors(context.Canceled, context.DeadlineExceeded).
		Build()
	breaker := circuitbreaker.NewBuilder[any]().
		WithFailureThreshold(3).
		WithDelay(5 * time.Second).
		OnOpen(func(circuitbreaker.StateChangedEvent) { cfg.Logger.Warn("kafka: circuit open; publishing paused") }).
		OnClose(func(circuitbreaker.StateChangedEvent) { cfg.Logger.Info("kafka: circuit closed; publishing resumed") }).
		Build()
	return &Publisher{cl: cl, topic: cfg.Topic, exec: failsafe.With[any](retry, breaker), log: cfg.Logger}, nil
}

// Publish produces recs and returns after the broker acknowledged all of
// them, or the first error. A failed batch may be partly written: the relay
// publishes it again, and consumers dedupe by the ce_id header.
func (p *Publisher) Publish(ctx context.Context, recs []ports.OutboxRecord) error {
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{
			Topic: p.topic,
			Key:   []byte(r.Key),
			Value: r.Payload,
			Headers: []kgo.RecordHeader{
				{Key: HeaderType, Value: []byte(r.Type)},
				{Key: HeaderID, Value: []byte(r.ID)},
			},
		}
	}
	err := p.exec.WithContext(ctx).Run(func() error {
		return p.cl.ProduceSync(ctx, krs...).FirstErr()
	})
	if err != nil {
		return fmt.Errorf("kafka: produce %d records to %s: %w", len(recs), p.topic, err)
	}
	return nil
}

// Ping reports whether a broker answers, for readiness checks.
func (p *Publisher) Ping(ctx context.Context) error {
	if err := p.cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: ping: %w", err)
	}
	return nil
}

// Close flushes nothing (Publish is synchronous) and closes the client.
func (p *Publisher) Close() { p.cl.Close() }
