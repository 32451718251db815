// Command bench is the load generator behind `make bench`. It starts the
// real server binary as a child process (the embedded SQLite default, then
// Postgres when reachable), drives each auth route with closed-loop
// keep-alive workers, measures the bare primitives (argon2id verify, EdDSA
// JWT parse+verify and sign) in its own process with the production
// parameters, and prints every performance goal as a ratio whose two sides
// were measured in the same run, interleaved in short blocks (A B A B ...,
// median of the blocks), next to its limit.
//
// The machines it runs on are small and shared, so absolute figures move
// from run to run; the ratios are what the goals are stated in (see
// docs/benchmarking.md). The report goes to stdout, progress to stderr.
//
// It builds nothing: pass the server binary with -server. It exits non-zero
// only when the harness itself fails; a FAIL line is a finding, not an error.
//
//	go run ./apps/bench -server bin/server [-duration 2s] [-blocks 5] [-workers 16]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	server   string        // path of the server binary
	duration time.Duration // length of one measuring block
	blocks   int           // blocks per side of each ratio (median taken)
	workers  int           // closed-loop workers of the route runs
	postgres string        // maintenance database URL; the run creates its own database beside it
	fresh    int           // never-seen access tokens verified per first-seen block
	// chains is how many refresh chains (accounts) exist: every refresh is
	// answered no sooner than the server's concurrent window (50ms), so
	// rotation throughput and the harvest of unseen tokens need many in flight.
	chains int
	phases string // comma-separated: sqlite, postgres, events, admin, import
	// adminUsers is how many accounts the admin search runs over.
	adminUsers int
}

// warmDur is the length of a warm-up run, whose figures are discarded.
func (o options) warmDur() time.Duration { return max(o.duration/4, 250*time.Millisecond) }

func parseFlags() (options, error) {
	var o options
	flag.StringVar(&o.server, "server", "bin/server", "path of the server binary (built beforehand)")
	flag.DurationVar(&o.duration, "duration", 2*time.Second, "length of one measuring block")
	flag.IntVar(&o.blocks, "blocks", 5, "blocks per side of each ratio; the median is reported (at least 5 for the goals)")
	flag.IntVar(&o.workers, "workers", 16, "closed-loop workers of the route runs")
	flag.StringVar(&o.postgres, "postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"URL of a Postgres maintenance database; the run creates and drops its own database beside it (skipped when unreachable)")
	flag.IntVar(&o.fresh, "fresh", 4000, "never-seen access tokens verified per first-seen block")
	flag.StringVar(&o.phases, "phases", "sqlite,postgres,events,admin,import", "phases to run, comma-separated")
	flag.IntVar(&o.adminUsers, "admin-users", 1_000_000, "accounts the admin search runs over (seeded once into "+adminDatabase+", kept between runs)")
	flag.IntVar(&o.chains, "chains", 160, "refresh chains for rotation throughput and the unseen-token harvest")
	flag.Parse()
	switch {
	case flag.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", flag.Args())
	case o.duration < 100*time.Millisecond:
		return o, errors.New("-duration must be at least 100ms")
	case o.blocks < 1 || o.workers < 1 || o.fresh < 1 || o.chains < o.workers || o.adminUsers < 1:
		return o, errors.New("-blocks, -workers, -fresh and -admin-users must be positive, -chains at least -workers")
	}
	if _, err := os.Stat(o.server); err != nil {
		return o, fmt.Errorf("-server: %w (build it first: go build -o bin/server ./apps/server)", err)
	}
	return o, nil
}

func main() {
	opt, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	// A signal cancels ctx; every loop watches it, so run returns and its
	// deferred stops kill the child servers. A crash that skips the defers
	// is covered by Pdeathsig on the children (see startServer).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opt); err != nil {
		stop()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run measures everything and prints the report: header, tables as
// they are measured, then the ratios.
func run(ctx context.Context, opt options) error {
	start := time.Now()
	printHeader(stdout, opt)
	rep := &report{}
	phases := map[string]func(context.Context, options, *report) error{
		"sqlite": runSQLite, "postgres": runPostgres, "events": runEvents, "admin": runAdmin, "import": runImport}
	for _, name := range strings.Split(opt.phases, ",") {
		phase, ok := phases[strings.TrimSpace(name)]
		if !ok {
			return fmt.Errorf("-phases: unknown phase %q", name)
		}
		if err := phase(ctx, opt, rep); err != nil {
			return err
		}
	}
	rep.print(stdout)
	fmt.Fprintf(stdout, "\n(bench took %s)\n", time.Since(start).Round(time.Second))
	return nil
}
