package usermgmt

import (
	"context"
	"errors"
	"fmt"

	"github.com/usermgmt/usermgmt/adapters/eventschema"
	"github.com/usermgmt/usermgmt/adapters/kafka"
	"github.com/usermgmt/usermgmt/adapters/sqlstore"
	"github.com/usermgmt/usermgmt/adapters/system"
	"github.com/usermgmt/usermgmt/core/inbox"
)

// Consumer applies the events other services publish about users
// (account.connected, campaign.created, subscription.updated,
// compliance.violation) from a Kafka consumer group, each exactly once in
// effect; what cannot be applied goes to "<topic>.dlq".
type Consumer struct {
	kc    *kafka.Consumer
	close func() error
}

// NewConsumer opens the store of cfg and joins the consumer group. The
// events the inbox emits (user.updated, user.deactivated, ...) go to the
// outbox; a server or `worker relay` publishes them.
func NewConsumer(ctx context.Context, cfg Config, opts ...Option) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.KafkaBrokers) == 0 {
		return nil, errors.New("USERMGMT_KAFKA_BROKERS: the consumer needs brokers")
	}
	o := newOptions(opts)
	st, err := openStores(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	db := st.db
	clock := system.Clock{}
	// Sessions ended here reach the servers' revocation lookups through
	// Valkey at once when it is configured, else through the database
	// (they sync every second).
	sh, err := shared(cfg, clock, cfg.AccessTokenTTL+verifyLeeway)
	if err != nil {
		_ = st.close()
		return nil, err
	}
	closeAll := func() error { return errors.Join(sh.close(), st.close()) }
	svc, err := inbox.New(inbox.Deps{Tx: st.tx, Processed: sqlstore.NewProcessedEvents(db), Users: st.users,
		Sessions: st.sessions, Activities: sqlstore.NewActivities(db), Outbox: st.outbox, Revoked: sh.revoked,
		Clock: clock, IDs: system.IDs{}}, inbox.Config{PlanRoles: cfg.PlanRoles})
	if err != nil {
		_ = closeAll()
		return nil, err
	}
	schemas, err := eventschema.NewConsumed()
	if err != nil {
		_ = closeAll()
		return nil, err
	}
	kc, err := kafka.NewConsumer(kafka.ConsumerConfig{Brokers: cfg.KafkaBrokers, Group: cfg.ConsumerGroup,
		Topics: cfg.ConsumerTopics, Logger: o.log}, func(ctx context.Context, m kafka.Message) error {
		// A message that breaks its schema can never take effect: straight
		// to the dead-letter topic, no retries.
		if err := schemas.Validate(m.Value); err != nil {
			return kafka.Permanent(err)
		}
		return svc.Handle(ctx, m.Value)
	})
	if err != nil {
		_ = closeAll()
		return nil, fmt.Errorf("USERMGMT_KAFKA_BROKERS: %w", err)
	}
	return &Consumer{kc: kc, close: closeAll}, nil
}

// Run consumes until ctx ends.
func (c *Consumer) Run(ctx context.Context) error { return c.kc.Run(ctx) }

// Close leaves the group and releases the store.
func (c *Consumer) Close() error {
	c.kc.Close()
	return c.close()
}
