package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// runSQLite measures the embedded default: the bare primitives, every
// route, the ratios against the primitives, and memory under a login flood.
func runSQLite(ctx context.Context, opt options, rep *report) error {
	dir, err := os.MkdirTemp("", "usermgmt-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env := []string{"USERMGMT_DATA_DIR=" + filepath.Join(dir, "data")}
	logPath := filepath.Join(dir, "server.log")

	progress("starting the server on SQLite")
	srv, err := startServer(ctx, "sqlite", opt.server, logPath, env)
	if err != nil {
		return err
	}
	defer srv.stop()
	acc, err := newAccounts()
	if err != nil {
		return err
	}
	t := newTarget(srv, acc, max(opt.workers, floodWorkers))
	if err := t.setup(ctx, opt.chains); err != nil {
		return err
	}

	b := &bench{opt: opt, rep: rep, t: t}
	if err := b.primitives(ctx); err != nil {
		return err
	}
	if err := b.routes(ctx); err != nil {
		return err
	}
	// The flood runs on a fresh process over the same data, so its peak
	// is not hidden by a heap the earlier runs grew.
	srv.stop()
	progress("restarting the server for the login flood")
	srv, err = startServer(ctx, "sqlite", opt.server, logPath+".2", env)
	if err != nil {
		return err
	}
	defer srv.stop()
	t.srv, t.c = srv, newClient(srv.base, floodWorkers)
	return b.memory(ctx)
}

// bench holds what the measurements on the embedded default share.
type bench struct {
	opt      options
	rep      *report
	t        *target
	argon    *argonVerifier
	jwt      *jwtBench
	argonCPU time.Duration // bare argon2id CPU per op, from the login latency blocks
	rows     []row         // the route table
}

func cores() int { return runtime.NumCPU() }

// primitives measures the bare argon2id verify and EdDSA JWT in this
// process, and prints them.
func (b *bench) primitives(ctx context.Context) error {
	progress("measuring the bare primitives")
	var err error
	if b.argon, err = newArgonVerifier(); err != nil {
		return err
	}
	if b.jwt, err = newJWTBench(b.t.chains[0].access); err != nil {
		return err
	}
	d := b.opt.duration
	rows := []struct {
		name    string
		workers int
		fn      op
	}{
		{"argon2id verify (m=19456 KiB t=2 p=1)", 1, b.argon.op},
		{fmt.Sprintf("argon2id verify, %d goroutines (the hash ceiling)", cores()), cores(), b.argon.op},
		{"EdDSA JWT parse+verify (golang-jwt v5)", 1, b.jwt.verifyOp},
		{"EdDSA JWT sign", 1, b.jwt.signOp},
	}
	var out []row
	for _, r := range rows {
		s, err := drive(ctx, load{workers: r.workers, dur: d, want: http.StatusOK}, selfCPU, r.fn)
		if err != nil {
			return err
		}
		if len(s.errs) > 0 {
			return fmt.Errorf("bare %s failed: %s", r.name, s.errorSummary())
		}
		out = append(out, row{name: r.name, workers: r.workers, s: s})
	}
	printTable(stdout, "Bare primitives (in this process; CPU/op is its own)", out)
	return nil
}

// floodWorkers is the concurrency of the login flood.
const floodWorkers = 64

// memory floods a fresh server with concurrent logins and compares its
// peak RSS growth with what the hash concurrency should allow.
func (b *bench) memory(ctx context.Context) error {
	t := b.t
	progress(fmt.Sprintf("measuring memory under a flood of %d concurrent logins", floodWorkers))
	// Let the process settle after start-up before taking the baseline.
	if _, err := t.drive(ctx, load{workers: 4, dur: 200 * time.Millisecond, want: http.StatusOK}, t.healthz); err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond)
	peakNote := "VmHWM reset before the flood (clear_refs)"
	if err := t.srv.resetPeak(); err != nil {
		peakNote = "VmHWM could not be reset (" + err.Error() + "): it includes start-up"
	}
	before, err := t.srv.memory()
	if err != nil {
		return err
	}
	// Duration-bound, not count-bound: the server answers 503 at once to
	// logins beyond its hashing slots, and the flood must last while it does.
	s, err := t.drive(ctx, load{workers: floodWorkers, dur: 2 * b.opt.duration, want: http.StatusOK}, t.login)
	if err != nil {
		return err
	}
	after, err := t.srv.memory()
	if err != nil {
		return err
	}
	printTable(stdout, "Login flood on a fresh SQLite server", []row{{name: "login flood", workers: floodWorkers, s: s,
		note: fmt.Sprintf("RSS before %s, peak %s, after %s", fmtMiB(before.rss), fmtMiB(after.peak), fmtMiB(after.rss))}})

	growth := after.peak - before.rss
	limit := int64(3 * cores() * argonMemoryKiB << 10 / 2) // 1.5 × cores × argon2 memory
	b.rep.atMostBytes(fmt.Sprintf("memory growth (VmHWM − RSS before) under %d concurrent logins", floodWorkers), growth, limit,
		fmt.Sprintf("limit 1.5 × %d cores × %s; %d logins done, %d shed; server default of one hashing slot per core; %s",
			cores(), fmtMiB(argonMemoryKiB<<10), s.ops, s.errs[http.StatusServiceUnavailable], peakNote))
	return nil
}
