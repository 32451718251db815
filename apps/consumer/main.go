// Command consumer applies the events other services publish about users
// (account.connected, campaign.created, subscription.updated,
// compliance.violation) from the Kafka topics in USERMGMT_CONSUMER_TOPICS,
// as the consumer group USERMGMT_CONSUMER_GROUP. Each event takes effect
// once; one that cannot goes to "<topic>.dlq" with the reason in its
// headers.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/usermgmt/usermgmt/pkg/usermgmt"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "usermgmt consumer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	cfg, err := usermgmt.FromEnv(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := usermgmt.NewLogger(cfg, os.Stderr)
	c, err := usermgmt.NewConsumer(ctx, cfg, usermgmt.WithLogger(log))
	if err != nil {
		return err
	}
	defer c.Close()
	log.Info("consumer running", "topics", cfg.ConsumerTopics, "group", cfg.ConsumerGroup)
	return c.Run(ctx)
}
