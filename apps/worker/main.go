// Command worker runs the jobs of usermgmt that need no HTTP listener:
//
//	worker migrate   apply database migrations and exit
//	worker relay     relay outbox events until stopped
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
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "usermgmt worker:", err)
		os.Exit(1)
	}
}

const usage = "usage: worker migrate | relay"

func run(ctx context.Context, args []string, getenv func(string) string) error {
	if len(args) != 1 {
		return fmt.Errorf("%s", usage)
	}
	cfg, err := usermgmt.FromEnv(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := usermgmt.NewLogger(cfg, os.Stderr)
	switch args[0] {
	case "migrate":
		if err := usermgmt.Migrate(ctx, cfg, usermgmt.WithLogger(log)); err != nil {
			return err
		}
		log.Info("migrations applied")
		return nil
	case "relay":
		svc, err := usermgmt.New(ctx, cfg, usermgmt.WithLogger(log))
		if err != nil {
			return err
		}
		defer svc.Close()
		log.Info("outbox relay running")
		return svc.Run(ctx)
	default:
		return fmt.Errorf("unknown command %q; %s", args[0], usage)
	}
}
