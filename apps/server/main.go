// Command server runs the usermgmt HTTP API (default :3011) with the
// background jobs (outbox relay). Configuration comes from USERMGMT_*
// environment variables; with none set it runs the embedded default.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	// A profile's time zone must be one the tz database knows; a host
	// without one (a scratch or distroless image) would refuse every zone.
	// The system's database still wins where there is one.
	_ "time/tzdata"

	"github.com/usermgmt/usermgmt/pkg/usermgmt"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "usermgmt server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	cfg, err := usermgmt.FromEnv(getenv)
	lc, lerr := listenerFromEnv(getenv)
	if err := errors.Join(err, lerr); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := usermgmt.NewLogger(cfg, os.Stderr)
	svc, err := usermgmt.New(ctx, cfg, usermgmt.WithLogger(log))
	if err != nil {
		return err
	}
	defer svc.Close()
	// The internal listeners stop with the server, whatever ends it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	jobs := make(chan error, 1)
	go func() { jobs <- svc.Run(ctx) }()

	// The listeners only this binary has are configured here, not in the
	// library's Config: a host that embeds the library serves its own.
	if addr := cmp.Or(getenv("USERMGMT_METRICS_ADDR"), defaultMetricsAddr); addr != "off" {
		defer serveInternal(ctx, "metrics", addr, metricsMux(svc.MetricsHandler()), log)()
	}
	if addr := getenv("USERMGMT_PPROF_ADDR"); addr != "" {
		// Profiling lives on its own listener, never the public one (IV-04).
		defer serveInternal(ctx, "pprof", addr, pprofMux(), log)()
	}
	ln, err := listen(ctx, svc, lc)
	if err != nil {
		return err
	}
	app := svc.App()
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	log.Info("usermgmt listening", "addr", lc.addr, "store", storeName(cfg))

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// In-flight requests get a grace period; connections still open after it
	// (a client's pooled connection that never sent a request) are dropped.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.ShutdownWithContext(shutdownCtx); err != nil {
		log.Warn("shutdown grace period over; dropping open connections", "err", err)
	}
	return <-jobs
}

// defaultMetricsAddr keeps /metrics on loopback, off the public port
// (IV-04); "off" disables it.
const defaultMetricsAddr = "127.0.0.1:9311"

func storeName(cfg usermgmt.Config) string {
	if cfg.DatabaseURL != "" {
		return "postgres"
	}
	return "sqlite:" + cfg.DataDir
}
