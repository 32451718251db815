package main

import (
	"bufio"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// stdout carries the report; progress goes to stderr so the report stays
// clean when redirected.
var stdout io.Writer = os.Stdout

func progress(msg string) { fmt.Fprintln(os.Stderr, "bench: "+msg) }

// printHeader says where and how the figures were taken.
func printHeader(w io.Writer, opt options) {
	serverGo := "unknown"
	if bi, err := buildinfo.ReadFile(opt.server); err == nil {
		serverGo = bi.GoVersion
	}
	fmt.Fprintf(w, "usermgmt bench, %s\n", time.Now().Format(time.RFC3339))
	fmt.Fprintf(w, "machine:  %d cores (nproc), %s, %s/%s\n", cores(), cpuModel(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "go:       bench %s, server %s (%s)\n", runtime.Version(), serverGo, opt.server)
	// Under go run, os.Args[0] is a temporary path: name the command instead.
	fmt.Fprintf(w, "command:  %s\n", strings.Join(append([]string{"bench"}, os.Args[1:]...), " "))
	fmt.Fprintf(w, "settings: %d blocks × %s, %d workers, %d first-seen tokens per block; argon2id m=%d KiB t=%d p=%d; rate limit off\n",
		opt.blocks, opt.duration, opt.workers, opt.fresh, argonMemoryKiB, argonIterations, argonParallelism)
	fmt.Fprintln(w, "CPU/op is the measured process's CPU time per successful op (the server's for routes, from /proc/<pid>/stat);")
	fmt.Fprintln(w, "gen/op is the load generator's, which shares the cores. Ratios compare sides measured alternately in the same run.")
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// row is one line of a table.
type row struct {
	name    string
	workers int
	s       sample
	note    string
}

func printTable(w io.Writer, title string, rows []row) {
	fmt.Fprintf(w, "\n%s\n", title)
	const format = "%-48s %7s %7s %9s %8s %8s %8s %8s  %-12s %s\n"
	fmt.Fprintf(w, format, "", "workers", "ops", "ops/s", "p50", "p99", "CPU/op", "gen/op", "errors", "")
	for _, r := range rows {
		fmt.Fprintf(w, format, r.name, fmt.Sprint(r.workers), fmt.Sprint(r.s.ops), fmt.Sprintf("%.1f", r.s.rate()),
			fmtDur(r.s.pct(50)), fmtDur(r.s.pct(99)), fmtDur(r.s.cpuPerOp()), fmtDur(r.s.genCPUPerOp()), r.s.errorSummary(), r.note)
	}
}

// report collects the verdicts, printed last.
type report struct {
	lines []verdict
}

type verdict struct {
	what, value, goal, status, detail string
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func (r *report) add(v verdict) { r.lines = append(r.lines, v) }

func (r *report) atLeast(what string, v, goal float64, format, detail string) {
	r.add(verdict{what, fmt.Sprintf(format, v), "≥ " + fmt.Sprintf(format, goal), passFail(v >= goal), detail})
}

func (r *report) atMost(what string, v, goal float64, format, detail string) {
	r.add(verdict{what, fmt.Sprintf(format, v), "≤ " + fmt.Sprintf(format, goal), passFail(v <= goal), detail})
}

func (r *report) atMostBytes(what string, v, goal int64, detail string) {
	r.add(verdict{what, fmtMiB(v), "≤ " + fmtMiB(goal), passFail(v <= goal), detail})
}

func (r *report) below(what string, v, goal time.Duration, detail string) {
	r.add(verdict{what, fmtDur(v), "< " + fmtDur(goal), passFail(v < goal), detail})
}

func (r *report) info(what, value, goal, detail string) {
	r.add(verdict{what, value, goal, "INFO", detail})
}

func (r *report) skip(what, why string) {
	r.add(verdict{what, "-", "", "SKIP", why})
}

// print writes the verdicts, one per line: status, figure, goal, then how
// the figure was obtained.
func (r *report) print(w io.Writer) {
	fmt.Fprintln(w, "\nRatios (the goals)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, v := range r.lines {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.status, v.what, v.value, v.goal, v.detail)
	}
	tw.Flush()
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

func fmtMiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
