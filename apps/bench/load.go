package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// op performs one operation for worker w. seq numbers the operations of a
// run from 0 across workers, so a fixed-count run can hand each operation
// its own input (a never-seen token). It returns the HTTP status (0 for a
// transport failure, or wantOK for a bare primitive).
type op func(ctx context.Context, w, seq int) (status int, err error)

// sample is what one run measured.
type sample struct {
	ops     int             // successful operations
	elapsed time.Duration   // wall time from the first start to the last finish
	lat     []time.Duration // latency of each successful operation
	errs    map[int]int     // failed operations by status (0: transport)
	cpu     time.Duration   // CPU time of the measured process over the run
	genCPU  time.Duration   // CPU time of this process (the load generator) over a server run
}

func (s sample) rate() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(s.ops) / s.elapsed.Seconds()
}

// cpuPerOp is the measured process's CPU time per successful operation.
func (s sample) cpuPerOp() time.Duration {
	if s.ops == 0 {
		return 0
	}
	return s.cpu / time.Duration(s.ops)
}

// genCPUPerOp is the load generator's CPU time per successful operation.
func (s sample) genCPUPerOp() time.Duration {
	if s.ops == 0 {
		return 0
	}
	return s.genCPU / time.Duration(s.ops)
}

// pct returns the p-th percentile (0-100) of the latencies.
func (s sample) pct(p float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	l := slices.Clone(s.lat)
	slices.Sort(l)
	i := int(p / 100 * float64(len(l)-1))
	return l[i]
}

func (s sample) errorSummary() string {
	if len(s.errs) == 0 {
		return "-"
	}
	codes := make([]int, 0, len(s.errs))
	for c := range s.errs {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		name := fmt.Sprint(c)
		if c == 0 {
			name = "transport"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, s.errs[c]))
	}
	return strings.Join(parts, " ")
}

// merge pools the samples of several blocks into one.
func merge(ss []sample) sample {
	var m sample
	m.errs = map[int]int{}
	for _, s := range ss {
		m.ops += s.ops
		m.elapsed += s.elapsed
		m.cpu += s.cpu
		m.genCPU += s.genCPU
		m.lat = append(m.lat, s.lat...)
		for c, n := range s.errs {
			m.errs[c] += n
		}
	}
	return m
}

// load is the shape of a closed-loop run: workers each start the next
// operation as soon as the previous one returns, until dur has passed or
// count operations have started (whichever is set; both may be).
type load struct {
	workers int
	dur     time.Duration
	count   int
	want    int // the success status
}

// cpuMeter reads a process's CPU time so far.
type cpuMeter func() (time.Duration, error)

// drive runs fn under l and measures it, with meter reading the CPU of
// the process doing the work (the server, or the bench itself for the
// bare primitives).
func drive(ctx context.Context, l load, meter cpuMeter, fn op) (sample, error) {
	cpu0, err := meter()
	if err != nil {
		return sample{}, err
	}
	var (
		next  atomic.Int64
		mu    sync.Mutex
		total = sample{errs: map[int]int{}}
		wg    sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(l.dur)
	for w := range l.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each worker keeps its own tallies: no shared state on the
			// measured path.
			lat := make([]time.Duration, 0, 1024)
			errs := map[int]int{}
			for ctx.Err() == nil && (l.dur == 0 || time.Now().Before(deadline)) {
				seq := int(next.Add(1) - 1)
				if l.count > 0 && seq >= l.count {
					break
				}
				t0 := time.Now()
				st, err := fn(ctx, w, seq)
				d := time.Since(t0)
				switch {
				case err != nil && ctx.Err() != nil:
					// Interrupted: not a finding.
				case err == nil && st == l.want:
					lat = append(lat, d)
				default:
					errs[st]++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			total.lat = append(total.lat, lat...)
			for c, n := range errs {
				total.errs[c] += n
			}
		}()
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	total.ops = len(total.lat)
	if err := ctx.Err(); err != nil {
		return sample{}, err
	}
	cpu1, err := meter()
	if err != nil {
		return sample{}, err
	}
	total.cpu = cpu1 - cpu0
	return total, nil
}

// selfCPU is the bench process's own CPU time (all threads, GC included,
// as the server pays its GC too).
func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// interleave runs the sides of a ratio alternately, blocks times each
// (A B A B ...), so a change in the machine's load hits both alike.
func interleave(ctx context.Context, blocks int, sides ...func() (sample, error)) ([][]sample, error) {
	out := make([][]sample, len(sides))
	for range blocks {
		for i, side := range sides {
			s, err := side()
			if err != nil {
				return nil, err
			}
			out[i] = append(out[i], s)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// perBlock maps f over paired blocks: f(a[i], b[i], ...).
func perBlock(sides [][]sample, f func(blk []sample) float64) []float64 {
	out := make([]float64, len(sides[0]))
	for i := range out {
		blk := make([]sample, len(sides))
		for j := range sides {
			blk[j] = sides[j][i]
		}
		out[i] = f(blk)
	}
	return out
}
