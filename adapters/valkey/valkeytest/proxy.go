package valkeytest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to Addr, so a test can take the server
// away from one client (Cut) and give it back (Restore) without touching
// the server or the connections of other tests.
type Proxy struct {
	t     testing.TB
	addr  string
	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewProxy listens on a free loopback port; everything is closed when t
// ends.
func NewProxy(t testing.TB) *Proxy {
	t.Helper()
	p := &Proxy{t: t, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	p.Restore()
	t.Cleanup(func() { p.Cut(); p.wg.Wait() })
	return p
}

// Addr is where clients connect.
func (p *Proxy) Addr() string { return p.addr }

// Cut closes the listener and every forwarded connection: clients see
// their connections drop and the port refuse new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// Restore listens again on the same address.
func (p *Proxy) Restore() {
	p.t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(p.t.Context(), "tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: listen on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() { p.accept(ln) })
}

func (p *Proxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		var d net.Dialer
		s, err := d.DialContext(p.t.Context(), "tcp", Addr())
		if err != nil {
			_ = c.Close()
			continue
		}
		if !p.track(c, s) {
			return
		}
		p.wg.Go(func() { p.pipe(c, s) })
		p.wg.Go(func() { p.pipe(s, c) })
	}
}

// track registers a forwarded pair, unless the proxy was cut meanwhile.
func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		for _, c := range conns {
			_ = c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies until either side ends, then closes both.
func (p *Proxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src) // an error or EOF: either way the pair is done
	_ = dst.Close()
	_ = src.Close()
}
