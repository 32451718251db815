package usermgmt_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/pkg/usermgmt"
)

// TestGuard_GuardsThePublicListener_IV05: the listener Guard returns
// closes a connection over the per-address cap at accept and counts it in
// the metrics; trusted proxies, which carry many clients, are held only to
// the total cap.
func TestGuard_GuardsThePublicListener_IV05(t *testing.T) {
	for name, trusted := range map[string][]netip.Prefix{"direct": nil, "trusted proxy": {netip.MustParsePrefix("127.0.0.1/32")}} {
		t.Run(name, func(t *testing.T) {
			cfg := usermgmt.DefaultConfig()
			cfg.TrustedProxies = trusted
			svc, err := usermgmt.NewInMemory(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			ln, err := svc.Guard(t.Context(), listenLocal(t), usermgmt.ListenerLimits{MaxConns: 4, MaxConnsPerIP: 1})
			if err != nil {
				t.Fatal(err)
			}
			app := svc.App()
			served := make(chan error, 1)
			go func() { served <- app.Listener(ln) }()
			defer func() {
				_ = app.Shutdown()
				if err := <-served; err != nil {
					t.Errorf("serve after shutdown: %v", err)
				}
			}()

			first := dial(t, ln.Addr().String())
			defer first.Close()
			second := dial(t, ln.Addr().String())
			defer second.Close()
			// The first connection is admitted (it is served); the second
			// is refused unless its peer is a trusted proxy.
			if status := healthz(t, first); status != 200 {
				t.Fatalf("first connection: %d", status)
			}
			status := healthz(t, second)
			if trusted == nil && status != 0 {
				t.Fatalf("a second connection from one address was served (%d) with a cap of one", status)
			}
			if trusted != nil && status != 200 {
				t.Fatal("a trusted proxy's second connection was refused")
			}

			rec := httptest.NewRecorder()
			svc.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			shedLine := `usermgmt_http_connections_shed_total{reason="max_conns_per_ip"} 1`
			if got := strings.Contains(rec.Body.String(), shedLine); got != (trusted == nil) {
				t.Fatalf("metric %q present: %v", shedLine, got)
			}
		})
	}
}

// TestGuard_RefusesNegativeCaps: a cap below zero set in code is an
// error, not a listener without one.
func TestGuard_RefusesNegativeCaps(t *testing.T) {
	svc, err := usermgmt.NewInMemory(usermgmt.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ln := listenLocal(t)
	defer ln.Close()
	if _, err := svc.Guard(t.Context(), ln, usermgmt.ListenerLimits{MaxConns: -1}); err == nil {
		t.Fatal("a negative cap was accepted")
	}
}

// listenLocal opens a listener on a free loopback port.
func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// healthz sends GET /healthz on c and returns the status, or 0 when the
// server closed the connection instead.
func healthz(t *testing.T, c net.Conn) int {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return 0
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatal("no answer and no close")
	case err != nil:
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// TestListenInternal_HoldsFewConnections_IV05: an internal listener
// (metrics, pprof) admits a handful of connections, from one address as
// much as from many, and closes those beyond at accept: a flood of them
// must not take the descriptors the public listener needs.
func TestListenInternal_HoldsFewConnections_IV05(t *testing.T) {
	ln, err := usermgmt.ListenInternal(t.Context(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	// Requests begun and not finished: busy connections, never closed to
	// make room.
	const held = 8
	var conns []net.Conn
	for range held {
		c := dial(t, ln.Addr().String())
		defer c.Close()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\n"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	over := dial(t, ln.Addr().String())
	defer over.Close()
	if status := healthz(t, over); status != 0 {
		t.Fatalf("connection %d was served (%d): the internal listener is not capped", held+1, status)
	}
	// The held ones were admitted: one finishes its request and is served.
	c := conns[held-1]
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "Host: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if res, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || res.StatusCode != 200 {
		t.Fatalf("a connection within the cap: %v %v", res, err)
	}
}
