// Command worker runs the jobs of usermgmt that need no HTTP listener:
//
//	worker migrate             apply database migrations and exit
//	worker relay               relay outbox events until stopped
//	worker keys rotate         make a new signing key; the old one verifies for a token lifetime
//	worker keys rotate --now   make a new signing key and retire the old ones at once
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
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

var errUsage = errors.New("usage: worker migrate | relay | keys rotate [--now]")

func run(ctx context.Context, args []string, getenv func(string) string) error {
	if len(args) == 0 {
		return errUsage
	}
	// Arguments are checked before the configuration, so a typo never
	// opens the database.
	cmd, rest := args[0], args[1:]
	var now bool
	switch cmd {
	case "migrate", "relay":
		if len(rest) != 0 {
			return errUsage
		}
	case "keys":
		var err error
		if now, err = parseKeysRotate(rest); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown command %q; %w", cmd, errUsage)
	}
	cfg, err := usermgmt.FromEnv(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := usermgmt.NewLogger(cfg, os.Stderr)
	switch cmd {
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
		return rotateKeys(ctx, cfg, now, log)
	}
}

// parseKeysRotate reads the arguments of `keys`: rotate and an optional --now.
func parseKeysRotate(args []string) (now bool, err error) {
	if len(args) == 0 || args[0] != "rotate" {
		return false, errUsage
	}
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the usage error says it all
	fs.BoolVar(&now, "now", false, "retire the old signing keys at once")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
		return false, errUsage
	}
	return now, nil
}

func rotateKeys(ctx context.Context, cfg usermgmt.Config, now bool, log *slog.Logger) error {
	if now {
		if err := usermgmt.RotateSigningKeyNow(ctx, cfg, usermgmt.WithLogger(log)); err != nil {
			return err
		}
		log.Warn("signing key rotated; the old keys are retired: their tokens fail on every instance within the key refresh interval",
			"interval", usermgmt.KeyRefreshInterval)
		return nil
	}
	if err := usermgmt.RotateSigningKey(ctx, cfg, usermgmt.WithLogger(log)); err != nil {
		return err
	}
	log.Info("signing key rotated; the old key verifies for one access-token lifetime", "ttl", cfg.AccessTokenTTL)
	return nil
}
