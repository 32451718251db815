// Command worker runs the jobs of usermgmt that need no HTTP listener:
//
//	worker migrate                   apply database migrations and exit
//	worker relay                     relay outbox events until stopped
//	worker keys rotate [--now]       make a new signing key (--now: retire the old ones at once)
//	worker create-admin EMAIL        create a superadmin (password from USERMGMT_ADMIN_PASSWORD or stdin)
//	worker users import [--dry-run] [--format jsonl|csv] FILE
//	                                 import accounts from another system, resumable
//	worker users export [FILE]       write every account as JSON lines
//	worker audit verify              verify the audit chain; exit status 1 when broken
//	worker prune                     the retention jobs, batch by batch, safe on several hosts
//	worker seed N                    synthetic accounts for benchmarks, resumable
//
// `worker help` says more. It reads the server's USERMGMT_* configuration.
// Long jobs report progress on standard error: a bar on a terminal, a line
// every few seconds otherwise.
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
	"strconv"
	"strings"
	"syscall"

	"github.com/usermgmt/usermgmt/apps/internal/progress"
	"github.com/usermgmt/usermgmt/pkg/usermgmt"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, console{in: os.Stdin, out: os.Stdout, err: os.Stderr}); err != nil {
		fmt.Fprintln(os.Stderr, "usermgmt worker:", err)
		os.Exit(1)
	}
}

// console is the worker's standard streams; tests stand in for them.
type console struct {
	in       io.Reader
	out, err io.Writer
}

// env is what a job runs with.
type env struct {
	cfg    usermgmt.Config
	log    *slog.Logger
	con    console
	getenv func(string) string // the environment, as the configuration did not see it
}

// job is a command whose arguments have been checked.
type job func(ctx context.Context, e env) error

// command is one thing the worker does.
type command struct {
	name string // its words: "users import"
	args string
	help string
	// parse checks the arguments before the configuration is read, so a
	// typo never opens the database.
	parse func(c command, args []string) (job, error)
}

// commands in the order help lists them.
var commands = []command{
	{"migrate", "", "Apply the database migrations and exit (safe from several hosts at once).", noArgs(migrate)},
	{"relay", "", "Relay outbox events to the event bus until stopped.", noArgs(relay)},
	{"keys rotate", "[--now]", "Make a new signing key; the old one verifies for one access-token lifetime.\n" +
		"--now retires every old key at once: their tokens fail on every instance within 10s.", parseKeysRotate},
	{"create-admin", "EMAIL", "Create a superadmin, or say that an administrator with EMAIL exists. The password\n" +
		"comes from USERMGMT_ADMIN_PASSWORD or, when that is unset, from standard input (not echoed\n" +
		"on a terminal), never from the command line; the password policy applies.", parseCreateAdmin},
	{"users import", "[--dry-run] [--format jsonl|csv] FILE", "Import accounts from another system: JSON lines (.jsonl) or CSV with a header\n" +
		"(.csv; quote values with commas, as argon2id hashes have). FILE - reads standard\n" +
		"input, with --format. Fields: email, username, displayName, role, passwordHash,\n" +
		"createdAt (RFC 3339) and optionally id (a UUID the account keeps). Hashes are\n" +
		"argon2id or bcrypt ($2a$/$2b$/$2y$); a bcrypt hash is replaced by argon2id at the\n" +
		"account's first sign-in. A bad line is reported with its number and skipped (exit\n" +
		"status 1). An account that exists with the same email, username and creation time\n" +
		"is left unchanged, so running the same file again changes nothing: after an\n" +
		"interruption, run it again to resume. --dry-run reports what would change and\n" +
		"writes nothing.", parseImport},
	{"users export", "[FILE]", "Write every account as JSON lines to FILE (created 0600) or standard output:\n" +
		"the import's fields without passwordHash, with status, roles, emailVerified,\n" +
		"mfaEnabled, updatedAt and lastLoginAt. Active and inactive accounts come first, then\n" +
		"deleted ones not yet erased. It streams: memory stays flat.", parseExport},
	{"audit verify", "", "Verify the audit chain from its checkpoint to its head; print how many records\n" +
		"verified, the head, and the first broken record (exit status 1 when there is one).", noArgs(auditVerify)},
	{"prune", "", "The retention jobs: end expired sessions, drop expired sign-in challenges, delete\n" +
		"published outbox events, erase accounts deleted longer ago than\n" +
		"USERMGMT_DELETED_USER_RETENTION (each audited as user.erased) and delete audit entries\n" +
		"older than USERMGMT_AUDIT_RETENTION. Each works in small batches, a transaction each:\n" +
		"safe on several hosts at once, and an interrupted run is finished by the next.", noArgs(prune)},
	{"seed", "N", "Make sure synthetic accounts 0 to N-1 exist, for benchmarks (SQLite or Postgres).\n" +
		"Their password is " + usermgmt.SeedPassword + ". What exists is skipped: run it again to resume.", parseSeed},
	{"help", "", "Print this help.", nil},
}

// errUsage marks arguments the worker does not understand.
var errUsage = errors.New("usage: worker COMMAND [ARGS]; `worker help` lists the commands")

func usage(c command) error {
	return fmt.Errorf("%w\n  worker %s %s", errUsage, c.name, c.args)
}

func run(ctx context.Context, args []string, getenv func(string) string, con console) error {
	if len(args) == 0 {
		return errUsage
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(con.out)
		return nil
	}
	c, rest, ok := lookup(args)
	if !ok {
		return fmt.Errorf("unknown command %q; %w", strings.Join(args, " "), errUsage)
	}
	j, err := c.parse(c, rest)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(con.out, "%s\n\n%s\n", strings.TrimSpace("worker "+c.name+" "+c.args), c.help)
		return nil
	}
	if err != nil {
		return err
	}
	cfgEnv := getenv
	if c.name == "create-admin" {
		// The bootstrap administrator of the configuration is someone
		// else's business (and its variables must come in pairs): this
		// command only borrows the password.
		cfgEnv = withoutAdminVars(getenv)
	}
	cfg, err := usermgmt.FromEnv(cfgEnv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	return j(ctx, env{cfg: cfg, log: usermgmt.NewLogger(cfg, con.err), con: con, getenv: getenv})
}

// lookup finds the command args start with, and the arguments after its
// words. A group's word alone ("users", "keys") is the usage of the
// group's commands.
func lookup(args []string) (command, []string, bool) {
	var group []string
	for _, c := range commands {
		words := strings.Fields(c.name)
		if c.parse == nil {
			continue
		}
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c, args[len(words):], true
		}
		if len(words) > 1 && words[0] == args[0] {
			group = append(group, "  worker "+c.name+" "+c.args)
		}
	}
	if len(group) > 0 {
		return command{name: args[0], parse: func(command, []string) (job, error) {
			return nil, fmt.Errorf("%w\n%s", errUsage, strings.Join(group, "\n"))
		}}, nil, true
	}
	return command{}, nil, false
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `usermgmt worker: the jobs of usermgmt that need no HTTP listener. It reads the
server's USERMGMT_* configuration (on Postgres, run migrate first). Long jobs report
progress on standard error: a bar with rate and time left on a terminal, a line every
few seconds otherwise.

`)
	for _, c := range commands {
		fmt.Fprintln(w, strings.TrimSpace("worker "+c.name+" "+c.args))
		for _, line := range strings.Split(c.help, "\n") {
			fmt.Fprintf(w, "    %s\n", line)
		}
		fmt.Fprintln(w)
	}
}

// flags returns a flag set for c that stays quiet: errors become usage.
func flags(c string) *flag.FlagSet {
	fs := flag.NewFlagSet(c, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses fs from args with flags before, between or after the
// positional arguments, and returns those.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
}

// noArgs makes the parser of a command without arguments.
func noArgs(j job) func(command, []string) (job, error) {
	return func(c command, args []string) (job, error) {
		if _, err := positional(c, flags(c.name), args, 0); err != nil {
			return nil, err
		}
		return j, nil
	}
}

// positional parses args with fs and wants n positional arguments, or
// reports c's usage.
func positional(c command, fs *flag.FlagSet, args []string, n int) ([]string, error) {
	pos, err := parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, err
	}
	if err != nil || len(pos) != n {
		return nil, usage(c)
	}
	return pos, nil
}

func migrate(ctx context.Context, e env) error {
	if err := usermgmt.Migrate(ctx, e.cfg, usermgmt.WithLogger(e.log)); err != nil {
		return err
	}
	e.log.Info("migrations applied")
	return nil
}

func relay(ctx context.Context, e env) error {
	return withService(ctx, e, func(svc *usermgmt.Service) error {
		e.log.Info("outbox relay running")
		return svc.Run(ctx)
	})
}

// withService runs fn on the service of e's configuration.
func withService(ctx context.Context, e env, fn func(*usermgmt.Service) error) error {
	svc, err := usermgmt.New(ctx, e.cfg, usermgmt.WithLogger(e.log))
	if err != nil {
		return err
	}
	return errors.Join(fn(svc), svc.Close())
}

// parseKeysRotate reads the arguments of `keys rotate`: an optional --now.
func parseKeysRotate(c command, args []string) (job, error) {
	fs := flags(c.name)
	now := fs.Bool("now", false, "retire the old signing keys at once")
	if _, err := positional(c, fs, args, 0); err != nil {
		return nil, err
	}
	return func(ctx context.Context, e env) error { return rotateKeys(ctx, e, *now) }, nil
}

func rotateKeys(ctx context.Context, e env, now bool) error {
	if now {
		if err := usermgmt.RotateSigningKeyNow(ctx, e.cfg, usermgmt.WithLogger(e.log)); err != nil {
			return err
		}
		e.log.Warn("signing key rotated; the old keys are retired: their tokens fail on every instance within the key refresh interval",
			"interval", usermgmt.KeyRefreshInterval)
		return nil
	}
	if err := usermgmt.RotateSigningKey(ctx, e.cfg, usermgmt.WithLogger(e.log)); err != nil {
		return err
	}
	e.log.Info("signing key rotated; the old key verifies for one access-token lifetime", "ttl", e.cfg.AccessTokenTTL)
	return nil
}

// parseSeed reads the N of `seed N`.
func parseSeed(c command, args []string) (job, error) {
	pos, err := positional(c, flags(c.name), args, 1)
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(pos[0])
	if err != nil || n < 1 {
		return nil, usage(c)
	}
	return func(ctx context.Context, e env) error {
		return withService(ctx, e, func(svc *usermgmt.Service) error {
			bar := progress.New(e.con.err, "seed", "users", int64(n))
			err := svc.SeedUsers(ctx, n, func(done int) { bar.Set(int64(done)) })
			bar.Done()
			if err != nil {
				return fmt.Errorf("%w (run it again to resume)", err)
			}
			fmt.Fprintf(e.con.out, "seed: accounts 0 to %d exist; their password is %s\n", n-1, usermgmt.SeedPassword)
			return nil
		})
	}, nil
}
