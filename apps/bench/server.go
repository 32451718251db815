package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Production argon2id parameters, passed to the server explicitly and used
// by the bare measurement, so both sides hash with the same cost.
const (
	argonMemoryKiB   = 19456
	argonIterations  = 2
	argonParallelism = 1
	argonKeyLen      = 32
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports (getconf CLK_TCK).
const clockTicks = 100

// server is a child server process on a loopback port.
type server struct {
	name    string
	base    string // http://127.0.0.1:port
	dataDir string // USERMGMT_DATA_DIR: where mailed links land
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has been waited for
}

// startServer runs bin with the benchmark environment plus env (the store
// settings), logging to logPath, and waits until /healthz answers.
func startServer(ctx context.Context, name, bin, logPath string, env []string) (*server, error) {
	port, err := freePort(ctx)
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor

	// An interrupted run (ctx cancelled) stops the child as stop does.
	cmd := exec.CommandContext(ctx, bin)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(benchEnv(port), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The kernel kills the child if the bench dies without running its
	// deferred stops (a panic in a worker goroutine, SIGKILL).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s server: %w", name, err)
	}
	s := &server{name: name, base: fmt.Sprintf("http://127.0.0.1:%d", port), logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "USERMGMT_DATA_DIR="); ok {
			s.dataDir = v
		}
	}
	go func() { _ = cmd.Wait(); close(s.exited) }()

	if err := s.waitHealthy(ctx, 60*time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("%s server: %w\n%s", name, err, s.logTail(20))
	}
	return s, nil
}

// benchEnv is the server environment of every run: the caller's
// environment without USERMGMT_* (so a developer's settings cannot skew
// the figures), the port, no rate limit and the production argon2 cost.
func benchEnv(port int) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "USERMGMT_") {
			env = append(env, kv)
		}
	}
	return append(env,
		fmt.Sprintf("USERMGMT_HTTP_ADDR=127.0.0.1:%d", port),
		"USERMGMT_RATE_LIMIT=off",
		fmt.Sprintf("USERMGMT_ARGON2_MEMORY_KIB=%d", argonMemoryKiB),
		fmt.Sprintf("USERMGMT_ARGON2_ITERATIONS=%d", argonIterations),
		fmt.Sprintf("USERMGMT_ARGON2_PARALLELISM=%d", argonParallelism),
	)
}

// freePort asks the kernel for an unused loopback port. Another process
// could take it before the server binds it; startServer then fails loudly.
func freePort(ctx context.Context) (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *server) waitHealthy(ctx context.Context, limit time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return errors.New("exited before it was healthy")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("not healthy after %s", limit)
}

// stop ends the server gracefully, or kills it after a grace period. Safe
// to call more than once.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *server) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  | " + strings.Join(lines, "\n  | ")
}

// cpu is the CPU time (user + system) the server has used so far.
func (s *server) cpu() (time.Duration, error) {
	return procCPU(s.cmd.Process.Pid)
}

// procCPU reads utime and stime of pid from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields to count start after its last ')'. There, index 0 is field 3
	// (state), so utime (14) and stime (15) are at 11 and 12.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// memory is a reading of /proc/<pid>/status.
type memory struct {
	rss, peak int64 // VmRSS and VmHWM, bytes
}

func (s *server) memory() (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("%s: %w", key, err)
		}
		if key == "VmRSS" {
			m.rss = kib << 10
		} else {
			m.peak = kib << 10
		}
	}
	if m.rss == 0 || m.peak == 0 {
		return memory{}, errors.New("VmRSS or VmHWM missing from /proc status")
	}
	return m, sc.Err()
}

// resetPeak sets VmHWM back to the current RSS (clear_refs 5, Linux 4.0+),
// so a later peak belongs to what ran after it.
func (s *server) resetPeak() error {
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/clear_refs", s.cmd.Process.Pid), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString("5")
	return errors.Join(err, f.Close())
}
