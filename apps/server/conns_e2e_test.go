//go:build unix

package main_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/netguard"
)

// serverNofile is the open-file limit the server runs under in the
// connection tests: low enough to reach with a few hundred sockets.
const serverNofile = 256

// TestE2E_IdleConnectionsDoNotEndTheProcess_IV05: under an open-file limit
// of 256, 400 TCP connections that send nothing used to end the server:
// accept failed with EMFILE, fasthttp took that for permanent and Fiber's
// Listen returned. Now the connections over the caps are closed at accept,
// the server keeps serving, it closes the silent ones it admitted after
// the first-byte timeout, and it answers at once when they are gone.
func TestE2E_IdleConnectionsDoNotEndTheProcess_IV05(t *testing.T) {
	s := startLimited(t, "USERMGMT_FIRST_BYTE_TIMEOUT=2s")
	// The caps a server derives under that limit: at most this many of
	// our connections, all from 127.0.0.1, are admitted.
	maxConns := netguard.DefaultMaxConns(serverNofile)
	perIP := netguard.DefaultMaxConnsPerIP(maxConns)
	const idle = 400
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	d := net.Dialer{Timeout: 5 * time.Second}
	host := strings.TrimPrefix(s.base, "http://")
	for range idle {
		c, err := d.DialContext(t.Context(), "tcp", host)
		if err != nil {
			continue // the old server is gone by now: the checks below say so
		}
		conns = append(conns, c)
	}

	// The server took every connection off its backlog: those beyond its
	// per-address cap (all from 127.0.0.1) were shed, and it is alive to
	// count them.
	var shed int
	deadline := time.Now().Add(30 * time.Second)
	for shed < len(conns)-perIP {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections shed after 30s", shed, len(conns))
		}
		n, err := shedCount(s)
		if err != nil {
			t.Fatalf("the server is gone after %d idle connections (%d dialled): %v\n%s", idle, len(conns), err, s.logs)
		}
		shed = n
		time.Sleep(100 * time.Millisecond)
	}

	// The connections it admitted are still open on our side, but the
	// server closes them once they have been silent for the first-byte
	// timeout, and serves again.
	waitHealthy(t, s, 30*time.Second, "while the idle connections are held")

	for _, c := range conns {
		_ = c.Close()
	}
	conns = nil
	waitHealthy(t, s, 10*time.Second, "after the idle connections closed")

	// The server derived its caps from the limit it runs under.
	if got := logInt(t, s, "maxConns"); got != maxConns {
		t.Errorf("logged a total cap of %d under an open-file limit of %d, want %d", got, serverNofile, maxConns)
	}
	if got := logInt(t, s, "maxConnsPerIP"); got != perIP {
		t.Errorf("logged a per-address cap of %d, want %d", got, perIP)
	}
	// A warning per reason and minute, not one per connection.
	if n := strings.Count(s.logs.String(), "connection closed at accept"); n == 0 || n >= 10 {
		t.Fatalf("%d warnings about %d shed connections:\n%s", n, shed, s.logs)
	}
}

// TestE2E_IdleKeptAliveConnectionsMakeRoom_IV05: from five addresses, 45
// connections each that ask for /healthz once and then idle, kept alive,
// fill the 192 connections a server under an open-file limit of 256
// admits. Every new client used to be shed at accept until the server's
// keep-alive idle timeout ended them, minutes later. Now a new connection
// at the cap takes the place of the one idle longest, and is served.
func TestE2E_IdleKeptAliveConnectionsMakeRoom_IV05(t *testing.T) {
	s := startLimited(t)
	maxConns := netguard.DefaultMaxConns(serverNofile)
	host := strings.TrimPrefix(s.base, "http://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := range 5 {
		// Linux routes all of 127.0.0.0/8 to loopback: five client addresses.
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}}
		for range 45 {
			c, err := d.DialContext(t.Context(), "tcp", host)
			if err != nil {
				t.Fatalf("dial from 127.0.0.%d: %v", 2+i, err)
			}
			conns = append(conns, c)
		}
	}
	if served := askOnce(conns, host, "/healthz"); served < maxConns {
		t.Fatalf("%d of %d connections served: the listener is not full (cap %d)", served, len(conns), maxConns)
	}

	// New clients, one connection each, once the others have idled past
	// the grace.
	time.Sleep(netguard.DefaultIdleGrace + 500*time.Millisecond)
	for i := range 5 {
		client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/healthz", nil)
		res, err := client.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("new client %d with the listener full of idle connections: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		cancel()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("new client %d: %d", i, res.StatusCode)
		}
	}
	if !strings.Contains(s.logs.String(), "idle kept-alive connection closed to admit a new one") {
		t.Fatalf("the server did not log making room:\n%s", s.logs)
	}
}

// TestE2E_MetricsFloodSparesThePublicListener_IV05: under an open-file
// limit of 256, 240 connections to the metrics listener that each asked
// for /metrics once and stayed open used to take every descriptor: the
// public /healthz went unanswered for 30 s while accept failed with
// EMFILE. The internal listeners now hold few connections and close idle
// ones, so the public listener keeps answering, and a new scrape gets in.
func TestE2E_MetricsFloodSparesThePublicListener_IV05(t *testing.T) {
	s := startLimited(t)
	host := strings.TrimSuffix(strings.TrimPrefix(s.metrics, "http://"), "/metrics")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	d := net.Dialer{Timeout: 5 * time.Second}
	for range 240 {
		c, err := d.DialContext(t.Context(), "tcp", host)
		if err != nil {
			t.Fatalf("dial the metrics listener: %v", err)
		}
		conns = append(conns, c)
	}
	askOnce(conns, host, "/metrics")

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/healthz", nil)
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("/healthz with the metrics listener flooded: %v\n%s", err, s.logs)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/healthz with the metrics listener flooded: %d", res.StatusCode)
	}
	time.Sleep(netguard.DefaultIdleGrace + 500*time.Millisecond)
	if _, err := shedCount(s); err != nil {
		t.Fatalf("a scrape with the metrics listener full of idle connections: %v", err)
	}
	if strings.Contains(s.logs.String(), "too many open files") {
		t.Fatalf("the process ran out of descriptors:\n%s", s.logs)
	}
}

// startLimited starts the server under an open-file limit of serverNofile,
// skipping the test when this process may not open enough sockets to
// exceed it.
func startLimited(t *testing.T, env ...string) *proc {
	t.Helper()
	var own syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &own); err != nil || own.Cur < 2*serverNofile+256 {
		t.Skipf("this test process may not open enough sockets (limit %d, %v)", own.Cur, err)
	}
	cmd := exec.Command("sh", "-c", `ulimit -n `+strconv.Itoa(serverNofile)+` && exec "$0"`, serverBinary(t))
	s := startCmd(t, cmd, env...)
	// Our pooled connection would answer the checks; the server must make
	// room on its own.
	client.CloseIdleConnections()
	return s
}

// askOnce sends one keep-alive GET of path on each connection and reads
// the answers, within ten seconds in all; it returns how many were 200.
func askOnce(conns []net.Conn, host, path string) int {
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range conns {
		_ = c.SetDeadline(deadline)
		_, _ = io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n")
	}
	ok := 0
	for _, c := range conns {
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			continue // shed at accept
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			ok++
		}
	}
	return ok
}

// logInt reads a number the server logged as JSON field name.
func logInt(t *testing.T, s *proc, name string) int {
	t.Helper()
	m := regexp.MustCompile(`"` + name + `":(\d+)`).FindStringSubmatch(s.logs.String())
	if m == nil {
		t.Fatalf("the server did not log %s:\n%s", name, s.logs)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

var shedLine = regexp.MustCompile(`(?m)^usermgmt_http_connections_shed_total\{reason="max_conns(?:_per_ip)?"\} (\d+)$`)

// shedCount is how many connections the server closed at accept, from
// its internal metrics listener.
func shedCount(s *proc) (int, error) {
	res, err := client.Get(s.metrics)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range shedLine.FindAllStringSubmatch(string(b), -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	return n, nil
}

// waitHealthy polls /healthz until it answers 200, failing after limit.
func waitHealthy(t *testing.T, s *proc, limit time.Duration, when string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		res, err := client.Get(s.base + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz did not answer 200 %s (last error %v):\n%s", when, err, s.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
